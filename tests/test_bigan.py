"""BiGAN and its linear probe: matched pairs reach D, the probe learns, the run resumes bitwise."""

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache as jax_cache

import bigan_mnist
from conftest import apply_overrides
from pegasus_jax import data, families, train
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError, MissingCapabilityError
from pegasus_jax.evaluation.evaluators import linear_probe
from pegasus_jax.families.base import Encodes, GeneratesFromPrior
from pegasus_jax.run import restore

SIZE = 8  # tiny images: the MLPs flatten them, so any size trains the same code


@pytest.fixture(scope="module", autouse=True)
def persistent_compilation_cache(tmp_path_factory):
  """A persistent compilation cache for this module: the three runs of the resume test (and
  the other tests' families of the same shapes) compile each function once, not once per run.
  The previous cache settings come back afterwards."""
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  previous = {name: getattr(jax.config, name) for name in names}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
  jax_cache.reset_cache()
  yield
  for name, value in previous.items():
    jax.config.update(name, value)
  jax_cache.reset_cache()


def tiny_bigan(**overrides) -> ml_collections.ConfigDict:
  """The :cpu config shrunk to a compile of a second or two: 8x8x1 images, 16 hidden units."""
  config = bigan_mnist.get_config("cpu")
  config.batch_size = 4
  config.total_steps = 6
  config.log_every = 3
  config.sample_every = 3
  config.checkpoint_every = 3
  config.eval_every = 0
  config.num_sample_images = 4
  config.num_reconstructions = 4
  config.data.image_size = SIZE
  config.model.hidden = 16
  config.model.z_dim = 3
  config.evals.linear_probe.num_train = 40
  config.evals.linear_probe.num_test = 0
  config.evals.linear_probe.classes = (0, 1)
  config.evals.linear_probe.steps = 200
  return apply_overrides(config, **overrides)


def tiny_family(config=None):
  config = config or tiny_bigan()
  return families.create(config, DataInfo(("all",), {"image": (SIZE, SIZE, 1)}))


def initial_state(family, seed: int = 0):
  """`family.init` jitted, as the loop and the probe do it (one compile, cached on disk here)."""
  return jax.jit(family.init)(jax.random.PRNGKey(seed))


def unlabelled_images(num: int = 24, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (num, SIZE, SIZE, 1), dtype=np.uint8)


def two_class_images(config) -> data.ClassImages:
  """Class 0 is bright on the left half, class 1 on the right (plus noise): easy to tell apart."""
  rng = np.random.default_rng(len(config.data.split))
  per_class = []
  for k in range(len(config.data.classes)):
    images = rng.integers(0, 60, (20, SIZE, SIZE, 1))
    images[:, :, k * SIZE // 2:(k + 1) * SIZE // 2] += 190
    per_class.append(images.astype(np.uint8))
  return data.ClassImages(tuple(str(c) for c in config.data.classes), per_class)


def unlabelled_dataset(config, process_index=0, process_count=1, crash_at=None):
  """24 random unlabelled 8x8 images through the real samplers; `crash_at`: the sampler fails
  from that (0-based) step on, as a job killed mid-run stops."""
  dataset = data.ImageDataset(data.ClassImages(("all",), [unlabelled_images()]),
                              config.data.sampler, config.data.random_flip)
  if crash_at is not None:
    make_sampler = dataset.sampler

    def sampler(*args, **kwargs):
      made = make_sampler(*args, **kwargs)
      healthy = made.batch

      def batch(step):
        if step >= crash_at:
          raise KilledMidRun(f"killed before the batch of step {step}")
        return healthy(step)
      made.batch = batch
      return made
    dataset.sampler = sampler
  return dataset


class KilledMidRun(RuntimeError):
  pass


@pytest.fixture
def in_memory_data(monkeypatch):
  """Training reads 24 random unlabelled 8x8 images; the probe reads two labelled classes."""
  requested = []
  monkeypatch.setattr(data, "load_dataset", unlabelled_dataset)

  def load_images(config, process_index=0, process_count=1):
    requested.append((config.data.split, tuple(config.data.classes)))
    return two_class_images(config)
  monkeypatch.setattr(linear_probe.data, "load_images", load_images)
  return requested


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                   jax.tree_util.tree_leaves(b)))


def test_the_joint_discriminator_sees_x_with_e_of_x_and_g_of_z_with_z(monkeypatch):
  # pylint: disable=protected-access
  family = tiny_family()
  state = initial_state(family)
  real = np.random.default_rng(1).uniform(-1, 1, (1, 4, SIZE, SIZE, 1)).astype(np.float32)
  seen = []
  original = family._d_apply

  def spy(d_params, d_model_state, images, codes):
    jax.debug.callback(lambda i, c: seen.append((np.asarray(i), np.asarray(c))), images, codes)
    return original(d_params, d_model_state, images, codes)

  monkeypatch.setattr(family, "_d_apply", spy)
  jax.block_until_ready(jax.jit(family.train_step)(state, {"real": real}))
  assert len(seen) == 4  # D's step, then E+G's step: a real pair and a fake pair each

  x = real[0]
  encoded, _ = family._encode_train(state.eg_params, state.eg_model_state, x)
  # Callbacks may arrive in any order: sort the calls by what they were given.
  real_calls = [codes for images, codes in seen if np.array_equal(images, x)]
  fake_calls = [(images, codes) for images, codes in seen if not np.array_equal(images, x)]
  assert len(real_calls) == 2 and len(fake_calls) == 2
  for codes in real_calls:  # the real pair: x itself with E(x)
    np.testing.assert_allclose(codes, encoded, atol=1e-5)
  step_key = jax.random.fold_in(state.rng, state.step)
  for stream in (0, 1):  # D's step draws z from stream 0, the E+G step from stream 1
    z = np.asarray(jax.random.normal(jax.random.fold_in(step_key, stream), (4, 3)))
    matches = [images for images, codes in fake_calls if np.allclose(codes, z, atol=1e-6)]
    assert len(matches) == 1  # the fake pair: this z ...
    generated, _ = family._generate_train(state.eg_params, state.eg_model_state, z)
    np.testing.assert_allclose(matches[0], generated, atol=1e-5)  # ... with G(z)


def test_the_probe_separates_a_linearly_separable_toy_problem():
  rng = np.random.default_rng(0)
  direction = rng.normal(size=5)

  def draw(n):
    codes = rng.normal(size=(n, 5)) * 3.0 + 10.0  # off-centre and wide: standardising matters
    labels = (codes @ direction > 10.0 * direction.sum()).astype(np.int32)
    return codes.astype(np.float32), labels

  train_codes, train_labels = draw(400)
  test_codes, test_labels = draw(400)
  assert 0.3 < train_labels.mean() < 0.7
  probe = linear_probe.fit_linear_probe(jnp.asarray(train_codes), jnp.asarray(train_labels),
                                        num_classes=2, steps=300, learning_rate=0.05)
  assert linear_probe.probe_accuracy(probe, test_codes, test_labels) > 0.95
  # A fixed number of full-batch steps from zeros: the same data give the same probe.
  again = linear_probe.fit_linear_probe(jnp.asarray(train_codes), jnp.asarray(train_labels),
                                        num_classes=2, steps=300, learning_rate=0.05)
  assert _leaves_equal(probe, again)


def test_the_evaluator_logs_the_probe_and_the_random_encoder_baseline(in_memory_data):
  config = tiny_bigan(eval_every=1)
  family = tiny_family(config)
  options = dict(config.evals.linear_probe)
  del options["type"]
  evaluate = linear_probe.create(config, options, family, DataInfo(("all",), {}))
  assert in_memory_data == [("train[:40]", (0, 1)), ("test", (0, 1))]
  # The baseline is this probe on a fresh encoder from random_encoder_seed: the same seed gives
  # the same encoder, so the same number.
  scores = evaluate(initial_state(family))
  assert set(scores) == {"eval/probe_accuracy", "eval/probe_accuracy_random_encoder",
                         "eval/probe_train_accuracy"}
  assert scores["eval/probe_accuracy"] == scores["eval/probe_accuracy_random_encoder"]
  assert scores["eval/probe_accuracy"] > 0.9  # the halves are easy even for a random encoder
  other = evaluate(initial_state(family, 7))
  assert other["eval/probe_accuracy_random_encoder"] == scores["eval/probe_accuracy"]


def test_the_probe_needs_a_run_that_encodes(in_memory_data):
  import jointgan  # configs/jointgan.py: a GAN without an encoder
  config = jointgan.get_config("cpu")
  gan = families.create(config, DataInfo(("horse", "bird"), {"image": (32, 32, 3)}))
  with pytest.raises(MissingCapabilityError, match="the 'linear_probe' evaluation needs a run "
                     "that can encode images to latent codes; a 'jointgan' run cannot"):
    linear_probe.create(config, dict(linear_probe.OPTIONS), gan, DataInfo(("all",), {}))


def test_bigan_trains_through_the_loop_draws_evaluates_and_resumes_bitwise(tmp_path,
                                                                           in_memory_data,
                                                                           monkeypatch):
  config = tiny_bigan(eval_every=3)
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))
  assert straight["final_step"] == 6
  for name in ("d_loss", "e_loss", "g_loss", "d_real", "d_fake", "reconstruction_mse"):
    assert np.isfinite(straight["last_metrics"][name]), name
  assert 0.0 <= straight["last_evaluation"]["eval/probe_accuracy"] <= 1.0
  assert "eval/probe_accuracy_random_encoder" in straight["last_evaluation"]
  for picture in ("samples", "reconstructions"):
    assert sorted(os.listdir(tmp_path / "a" / picture)) == ["step_0000003.png",
                                                            "step_0000006.png"]

  # The same run killed after step 3 (its checkpoint is complete), then started again. The
  # config is unchanged: the learning rate decays over total_steps, so a shorter first run
  # would follow another schedule.
  monkeypatch.setattr(data, "load_dataset", functools.partial(unlabelled_dataset, crash_at=3))
  with pytest.raises(KilledMidRun):
    train.train_and_evaluate(config, str(tmp_path / "b"))
  assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["3"]
  monkeypatch.setattr(data, "load_dataset", unlabelled_dataset)
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert resumed["start_step"] == 3
  assert _leaves_equal(jax.device_get(straight["state"]), jax.device_get(resumed["state"]))

  run = restore.load_run(str(tmp_path / "b"))
  assert isinstance(run.family, Encodes) and isinstance(run.family, GeneratesFromPrior)
  codes = run.family.encode(run.state, jnp.zeros((2, SIZE, SIZE, 1)))
  assert codes.shape == (2, 3)


def test_reconstructions_alternate_rows_of_originals_and_g_of_e_of_x():
  family = tiny_family(tiny_bigan(num_reconstructions=3))
  state = initial_state(family)
  batch = {"real": np.linspace(-1, 1, 4 * SIZE * SIZE, dtype=np.float32).reshape(
      1, 4, SIZE, SIZE, 1)}
  latents, originals = family.visual_inputs(jax.random.PRNGKey(1), 4, batch)
  assert latents.shape == (4, 3)
  np.testing.assert_array_equal(originals, batch["real"][0, :3])  # the first 3 of step 0
  pictures = family.visuals(state, (latents, originals))
  # one row of 3 originals over one row of their reconstructions, 2-pixel white padding
  assert pictures["reconstructions"].shape == (2 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2, 1)
  assert pictures["samples"].shape == (2 * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2, 1)


@pytest.mark.parametrize("variant", [None, "cpu"])
def test_shipped_configs_are_valid(variant):
  config = bigan_mnist.get_config(variant)
  validate_config(config)
  assert (config.data.name, config.data.image_size, config.data.channels) == ("mnist", 28, 1)
  assert config.model.z_dim == 50 and config.eval_every > 0


@pytest.mark.parametrize("field,value,message", [
    ("loss", "hinge", r"config.loss='hinge' must be one of \['nonsaturating', 'minimax'\]"),
    ("model__d_norm", "spectral", r"config.model.d_norm='spectral' must be one of \['batch', "
     r"'none'\]"),
    ("model__init", "xavier", r"config.model.init='xavier' must be one of"),
    ("optimizer__weight_decay", -1.0, r"config.optimizer.weight_decay=-1.0 must be a finite "
     r"number >= 0"),
    ("data__sampler", "labelled", r"config.data.sampler='labelled': BiGAN learns from one "
     r"stream of unlabelled images"),
    ("data__classes", (3, 5), r"config.data.classes=\(3, 5\): BiGAN learns from one stream"),
    ("evals__linear_probe__steps", 0, r"config.evals.linear_probe.steps=0 must be a positive "
     r"integer"),
    ("evals__linear_probe__classes", (1,), r"config.evals.linear_probe.classes=\(1,\) must be a "
     r"tuple of at least 2"),
])
def test_bad_fields_are_named(field, value, message):
  config = apply_overrides(
      ml_collections.ConfigDict(bigan_mnist.get_config("cpu").to_dict(), type_safe=False),
      **{field: value})
  with pytest.raises(ConfigError, match=message):
    validate_config(config)


def test_a_count_on_a_sliced_split_is_refused(in_memory_data):
  config = tiny_bigan()
  options = dict(config.evals.linear_probe, train_split="train[:100]")
  del options["type"]
  with pytest.raises(ConfigError, match=r"config.evals.linear_probe.num_train: give either a "
                     r"sliced split or a count"):
    linear_probe.create(config, options, tiny_family(config), DataInfo(("all",), {}))
