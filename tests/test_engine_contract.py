"""The loop has no family special case: a toy family defined here trains through it unchanged.

The toy consumes a non-image field ({'x': (B, 1)} from the synthetic sampler), draws its own
picture (a histogram strip), checks its own config field, and resumes bitwise like the GANs.
"""

import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from pegasus_jax import families, train
from pegasus_jax.config import checks as config_checks
from pegasus_jax.config.defaults import base_config, flatten_config
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError, MissingCapabilityError
from pegasus_jax.families.base import GeneratesFromPrior, require


@flax.struct.dataclass
class ToyState:
  step: jax.Array
  mean: jax.Array


class MeanFitter:
  """Fits one number to the data mean by gradient descent on the squared error."""

  signature_fields = ("data.name",)

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.family = "toy_mean"
    config.batch_size = 8
    config.total_steps = 6
    config.log_every = 2
    config.sample_every = 3
    config.checkpoint_every = 2
    config.num_sample_images = 4
    config.data.name = "gaussian_mixture"
    config.data.sampler = "synthetic"
    config.data.classes = ("all",)
    config.data.mixture_means = (3.0,)
    config.data.mixture_stds = (0.1,)
    config.data.mixture_weights = (1.0,)
    config.learning_rate = 0.3
    return config

  @staticmethod
  def check_config(config) -> None:
    config_checks.run_checks(flatten_config(config),
                             {"learning_rate": config_checks.positive_float})

  def __init__(self, config, info):
    assert info.example_shapes == {"x": (1,)}
    self.class_labels = info.labels
    self.examples_per_step = config.batch_size
    self.learning_rate = config.learning_rate

  def data_spec(self):
    return {"x": FieldSpec((self.examples_per_step, 1), "float32")}

  def init(self, rng):
    return ToyState(step=jnp.zeros((), jnp.int32), mean=jnp.zeros(()))

  def train_step(self, state, batch):
    loss_fn = lambda m: jnp.mean((batch["x"][:, 0] - m) ** 2)
    loss, grad = jax.value_and_grad(loss_fn)(state.mean)
    new = state.replace(step=state.step + 1, mean=state.mean - self.learning_rate * grad)
    return new, {"loss": loss, "mean": new.mean}

  def visual_inputs(self, rng, num, batch):
    return np.asarray(batch["x"][:num, 0])  # real points of step 0: a non-image field

  def visuals(self, state, fixed):
    strip = np.zeros((4, 16, 1), np.uint8)
    strip[:, int(np.clip(float(state.mean) * 4, 0, 15))] = 255
    return {"mean_marker": strip}


@pytest.fixture
def toy_family(monkeypatch):
  monkeypatch.setitem(families._FAMILIES, "toy_mean", MeanFitter)  # pylint: disable=protected-access
  return MeanFitter


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                   jax.tree_util.tree_leaves(b)))


def test_a_family_defined_in_a_test_trains_resumes_and_draws(tmp_path, toy_family):
  config = toy_family.default_config()
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))
  assert straight["final_step"] == 6
  assert float(straight["state"].mean) == pytest.approx(3.0, abs=0.3)  # learned the data mean
  assert sorted(os.listdir(tmp_path / "a" / "mean_marker")) == ["step_0000003.png",
                                                                "step_0000006.png"]
  assert {"loss", "mean"} <= set(straight["last_metrics"])
  first = train.train_and_evaluate(_with(config, total_steps=3), str(tmp_path / "b"))
  assert first["final_step"] == 3
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert resumed["start_step"] == 3
  assert _leaves_equal(jax.device_get(straight["state"]), jax.device_get(resumed["state"]))


def _with(config, **fields):
  config = ml_collections.ConfigDict(config.to_dict())
  for name, value in fields.items():
    config[name] = value
  return config


def test_the_family_checks_its_own_fields(toy_family):
  config = _with(toy_family.default_config(), learning_rate=-1.0)
  with pytest.raises(ConfigError, match=r"config.learning_rate=-1.0 must be a finite number > 0"):
    validate_config(config)
  config = toy_family.default_config()
  config.unlock()
  config.model = ml_collections.ConfigDict({"depth": 3})  # another family's field
  with pytest.raises(ConfigError, match=r"unknown config field\(s\) \['config.model.depth'\] "
                     r"for family 'toy_mean'"):
    validate_config(config)


def test_a_sampler_that_delivers_other_fields_is_refused_before_compiling(tmp_path, toy_family,
                                                                         monkeypatch):
  monkeypatch.setattr(toy_family, "data_spec",
                      lambda self: {"x": FieldSpec((self.examples_per_step, 2), "float32")})
  with pytest.raises(ConfigError, match=r"family 'toy_mean' consumes batches of \[x: "
                     r"float32\[8, 2\].*delivers \[x: float32\[8, 1\]"):
    train.train_and_evaluate(toy_family.default_config(), str(tmp_path))


def test_capabilities_are_declared_protocols(toy_family):
  toy = toy_family(toy_family.default_config(),
                   type("Info", (), {"labels": ("all",), "example_shapes": {"x": (1,)}})())
  assert not isinstance(toy, GeneratesFromPrior)
  with pytest.raises(MissingCapabilityError, match="sampling needs a run that can generate "
                     "images from a prior.*a 'toy_mean' run cannot"):
    require(toy, GeneratesFromPrior, "sampling", "toy_mean")
