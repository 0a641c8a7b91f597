"""The 1-D toy GAN: the loss's reason to exist, training through the loop, W1, config checks."""

import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

import toy1d  # configs/toy1d.py (tests/conftest.py puts configs/ on the path)
from pegasus_jax import train
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError, MissingCapabilityError
from pegasus_jax.evaluation.evaluators import toy_distance
from pegasus_jax.families.toy1d import FIGURE_NAME, Toy1DGAN
from pegasus_jax.gan import losses

INFO = DataInfo(("all",), {"x": (1,)})


def tiny_config(loss: str = "nonsaturating") -> ml_collections.ConfigDict:
  """configs/toy1d.py shrunk to a compile of a second: 16 hidden units, 6 steps of 8 points."""
  config = toy1d.get_config(loss)
  config.model.hidden = 16
  config.batch_size = 8
  config.total_steps = 6
  config.log_every = 3
  config.sample_every = 3
  config.checkpoint_every = 3
  config.eval_every = 3
  config.num_sample_images = 200
  config.evals.toy_distance.num_samples = 300
  return config


def _with(config, **fields):
  config = ml_collections.ConfigDict(config.to_dict())
  for dotted, value in fields.items():
    target = config
    *parents, leaf = dotted.split("__")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


def test_nonsaturating_gradient_is_larger_where_d_confidently_rejects():
  # At the logit: d/dl of the minimax loss is -sigmoid(l) = -D; of the non-saturating one -(1 - D).
  logit = jnp.array([-8.0])
  minimax = jax.grad(lambda l: losses.generator_loss("minimax", l))(logit)[0]
  nonsaturating = jax.grad(lambda l: losses.generator_loss("nonsaturating", l))(logit)[0]
  rejected = float(jax.nn.sigmoid(-8.0))  # D(G(z)) = 3.4e-4
  assert float(minimax) == pytest.approx(-rejected, rel=1e-5)
  assert float(nonsaturating) == pytest.approx(-(1 - rejected), rel=1e-5)

  # Through the family's own loss and a fixed discriminator, w.r.t. the generated point: a
  # seeded D of the family's shape whose output bias of -12 makes it reject everything.
  rng = np.random.default_rng(0)
  hidden = tiny_config().model.hidden

  def dense(fan_in, fan_out, bias=0.0):
    return {"kernel": (rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32),
            "bias": np.full((fan_out,), bias, np.float32)}

  d_params = {"Dense_0": dense(1, hidden), "Dense_1": dense(hidden, hidden),
              "Dense_2": dense(hidden, 1, bias=-12.0)}
  point = jnp.array([[0.3]])

  def gradient_at_rejected_point(loss: str) -> tuple[float, float]:
    family = Toy1DGAN(tiny_config(loss), INFO)

    @jax.jit
    def probability_loss_and_gradient(d_params, point):
      probability = jax.nn.sigmoid(family.discriminator_logits(d_params, point))[0]
      loss, grad = jax.value_and_grad(lambda x: family.generator_loss(d_params, x))(point)
      return probability, loss, grad[0, 0]

    probability, loss_value, grad = probability_loss_and_gradient(d_params, point)
    losses_seen[loss] = float(loss_value)
    return float(probability), float(grad)

  losses_seen = {}
  p_minimax, g_minimax = gradient_at_rejected_point("minimax")
  p_nonsaturating, g_nonsaturating = gradient_at_rejected_point("nonsaturating")
  assert p_minimax == p_nonsaturating < 1e-4  # the same confidently rejecting D
  # Each config computes its own loss: log(1 - D) ~ -D (flat) vs -log D ~ 12 (steep).
  assert losses_seen["minimax"] == pytest.approx(np.log1p(-p_minimax), rel=1e-3, abs=1e-7)
  assert losses_seen["nonsaturating"] == pytest.approx(-np.log(p_nonsaturating), rel=1e-4)
  assert g_minimax != 0.0
  assert abs(g_nonsaturating) > 1000 * abs(g_minimax)
  assert g_nonsaturating / g_minimax == pytest.approx((1 - p_minimax) / p_minimax, rel=1e-3)


def test_trains_through_the_loop_draws_its_figure_and_resumes_bitwise(tmp_path):
  config = tiny_config()
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))
  assert straight["final_step"] == 6
  assert {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"} <= set(
      straight["last_metrics"])
  assert 0.0 < straight["last_metrics"]["d_fake"] < 1.0
  figures = sorted(os.listdir(tmp_path / "a" / FIGURE_NAME))
  assert figures == ["step_0000003.png", "step_0000006.png"]
  picture = np.asarray(Image.open(tmp_path / "a" / FIGURE_NAME / figures[-1]))
  assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
  assert picture.shape[0] > 200 and picture.std() > 10  # a drawn figure, not a blank
  evaluation = straight["last_evaluation"]
  assert 0.0 < evaluation["eval/wasserstein1"] < 10.0
  assert evaluation["eval/mode_coverage"] in (0.0, 0.5, 1.0)
  assert 0.0 < evaluation["eval/wasserstein1_real_vs_real"] < 0.5

  # A job that saved at step 3 and died: the straight run's workdir without its step-6
  # checkpoint (the same state a 3-step run leaves, at the cost of one run less).
  shutil.copytree(tmp_path / "a", tmp_path / "b")
  shutil.rmtree(tmp_path / "b" / "checkpoints" / "6")
  assert os.listdir(tmp_path / "b" / "checkpoints") == ["3"]
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert resumed["start_step"] == 3
  leaves = zip(jax.tree_util.tree_leaves(jax.device_get(straight["state"])),
               jax.tree_util.tree_leaves(jax.device_get(resumed["state"])))
  assert all(np.array_equal(a, b) for a, b in leaves)
  assert resumed["last_evaluation"] == evaluation


def test_wasserstein1_and_mode_coverage_match_hand_computed_cases():
  # Equal sizes: W1 is the mean distance between sorted samples; every point moves by 5.
  assert toy_distance.wasserstein1(np.array([3.0, 0.0, 1.0]),
                                   np.array([5.0, 8.0, 6.0])) == pytest.approx(5.0)
  # {0, 2} vs {1}: |F_a - F_b| is 1/2 on [0, 2], area 1.
  assert toy_distance.wasserstein1(np.array([0.0, 2.0]), np.array([1.0])) == pytest.approx(1.0)
  points = np.array([-2.0, -2.9, 2.0, 10.0])[:, None]
  shares = toy_distance.mode_shares(points, means=(-2.0, 2.0), stds=(0.5, 0.5), radius_stds=2.0)
  np.testing.assert_allclose(shares, [0.5, 0.25])  # -2.9 is within 1.0 of -2; 10 is in no mode
  assert toy_distance.mode_coverage(shares, min_share=0.3) == 0.5
  assert toy_distance.mode_coverage(shares, min_share=0.25) == 1.0


class PointsAtZero:
  """A stand-in generator that puts every point at 0, between the modes at -2 and 2."""

  def latents(self, rng, num):
    return jax.random.normal(rng, (num, 1))

  def sample_points(self, state, latents):
    return jnp.zeros_like(latents)


def test_the_evaluator_scores_points_and_needs_a_family_that_draws_them():
  config = tiny_config()
  options = dict(toy_distance.OPTIONS, num_samples=2_000)
  with pytest.raises(MissingCapabilityError, match="'toy_distance' evaluation needs a run that "
                     "draws 1-D points.*a 'toy1d' run cannot"):
    toy_distance.create(config, options, object(), INFO)
  evaluate = toy_distance.create(config, options, PointsAtZero(), INFO)
  out = evaluate(state=None)
  # Moving every real point to 0 costs E|x| = 2 (modes at +-2, std 0.5: no mass crosses 0);
  # 0 is 4 std from both modes, so neither mode is covered.
  assert out["eval/wasserstein1"] == pytest.approx(2.0, abs=0.05)
  assert out["eval/mode_coverage"] == 0.0
  assert out["eval/mode_share/mode0"] == out["eval/mode_share/mode1"] == 0.0
  # Two real draws of 2,000 differ by sampling noise, mostly in the modes' shares (1% of the
  # points moved between modes costs 0.04): 0.07 on average over seeds, 0.12 for this one.
  assert 0.0 < out["eval/wasserstein1_real_vs_real"] < 0.2
  assert out == evaluate(state=None)  # fixed latents and reference: the same numbers


@pytest.mark.parametrize("fields, message", [
    (dict(loss="hinge"), r"config.loss='hinge' must be one of \['nonsaturating', 'minimax'\]"),
    (dict(data__sampler="class_balanced"), r"config.data.sampler='class_balanced' must be one "
     r"of \['synthetic'\]"),
    (dict(data__mixture_stds=(0.5,)), r"config.data.mixture_means, mixture_stds and "
     r"mixture_weights must have equal lengths"),
    (dict(data__mixture_stds=(0.5, 0.0)), r"config.data.mixture_stds=\(0.5, 0.0\) must all "
     r"be > 0"),
    (dict(model__z_dim=0), r"config.model.z_dim=0 must be a positive integer"),
    (dict(optimizer__d_lr=-1.0), r"config.optimizer.d_lr=-1.0 must be a finite number > 0"),
    (dict(evals__toy_distance__min_share=1.5), r"config.evals.toy_distance.min_share=1.5 must "
     r"be a number in \(0, 1\]"),
])
def test_config_errors_name_the_field(fields, message):
  with pytest.raises(ConfigError, match=message):
    validate_config(_with(tiny_config(), **fields))


def test_config_variants():
  validate_config(toy1d.get_config())
  assert toy1d.get_config("minimax").loss == "minimax"
  assert toy1d.get_config("nonsaturating").loss == toy1d.get_config("cpu").loss == (
      "nonsaturating")
  with pytest.raises(ValueError, match="unknown variant 'hinge' of configs/toy1d.py"):
    toy1d.get_config("hinge")
