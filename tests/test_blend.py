"""Class-embedding blending in the conditional GAN: --class=horse:0.5,bird:0.5 and blend search."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import apply_overrides, save_initial_checkpoint
from pegasus_jax.generation import blending, hybrids
from pegasus_jax.generation import sampling, scoring
from pegasus_jax.run import restore
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.models import sngan_resnet

LABELS = ("horse", "bird", "cat")


def test_parse_blend_gives_class_weights():
  np.testing.assert_allclose(blending.parse_blend("horse:0.5,bird:0.5", LABELS), [0.5, 0.5, 0])
  np.testing.assert_allclose(blending.parse_blend("2:0.25, horse:0.75", LABELS), [0.75, 0, 0.25])
  assert blending.is_blend("horse:1") and not blending.is_blend("horse")


@pytest.mark.parametrize("spec, words", [
    ("horse:0.5,dog:0.5", "'dog' is not one of"), ("horse:0.5,bird:0.6", "sum to 1.1"),
    ("horse:x,bird:1", "not a number"), ("horse:-0.5,bird:1.5", ">= 0"),
    ("horse:0.5,horse:0.5", "given twice"), (":1", "CLASS:WEIGHT")])
def test_bad_blends_are_config_errors(spec, words):
  with pytest.raises(ConfigError, match=words):
    blending.parse_blend(spec, LABELS)


def _random_embeddings(variables, seed=0):
  """Per-class gains and biases made different (they start at 1 and 0 for every class)."""
  keys = iter(jax.random.split(jax.random.PRNGKey(seed), 64))

  def perturb(path, leaf):
    names = jax.tree_util.keystr(path)
    if "embedding" in names and ("gain" in names or "bias" in names):
      return leaf + 0.5 * jax.random.normal(next(keys), leaf.shape)
    return leaf
  return jax.tree_util.tree_map_with_path(perturb, variables)


def test_conditional_batch_norm_blends_gain_and_bias_linearly():
  layer = sngan_resnet.ConditionalBatchNorm(num_classes=3)
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 2, 5))
  labels = jnp.zeros((4,), jnp.int32)
  variables = _random_embeddings(layer.init(jax.random.PRNGKey(0), x, labels, False))
  apply = lambda y: layer.apply(variables, x, y, False)
  horse, bird = apply(jnp.full((4,), 0)), apply(jnp.full((4,), 1))
  assert not np.allclose(horse, bird)
  half = apply(jnp.tile(jnp.array([[0.5, 0.5, 0.0]]), (4, 1)))
  np.testing.assert_allclose(half, 0.5 * (horse + bird), rtol=1e-5, atol=1e-6)
  # weight 1 on one class is that class, bit for bit
  np.testing.assert_array_equal(apply(jax.nn.one_hot(jnp.full((4,), 1), 3)), bird)


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
  """A conditional GAN (16x16, widths 8) at its initial state, cBN embeddings made distinct."""
  import cgan_cifar  # configs/cgan_cifar.py
  config = apply_overrides(cgan_cifar.get_config("cpu"), batch_size=4, n_disc=1,
                           model__g_width=8, model__d_width=8, model__z_dim=8)
  workdir = save_initial_checkpoint(config, LABELS, str(tmp_path_factory.mktemp("cgan")),
                                    size=16)
  run = restore.load_run(workdir)
  return dataclasses.replace(run, state=run.state.replace(
      g_ema_params=_random_embeddings(run.state.g_ema_params)))


def test_a_blend_of_weight_one_is_the_pure_class_and_a_mix_differs(cgan_run):
  horse = sampling.generate_images(cgan_run, 4, seed=3, class_name="horse")
  np.testing.assert_array_equal(
      sampling.generate_images(cgan_run, 4, seed=3, class_name="horse:1,bird:0"), horse)
  bird = sampling.generate_images(cgan_run, 4, seed=3, class_name="bird")
  mixed = sampling.generate_images(cgan_run, 4, seed=3, class_name="horse:0.5,bird:0.5")
  assert not np.array_equal(mixed, horse) and not np.array_equal(mixed, bird)


@pytest.fixture(scope="module")
def guide(cgan_run, tmp_path_factory):
  from test_classifier import tiny_classifier_config
  workdir = save_initial_checkpoint(tiny_classifier_config(), LABELS,
                                    str(tmp_path_factory.mktemp("guide16")), size=16)
  return scoring.classifier_scorer(cgan_run, cm.load_classifier(workdir), ("horse", "bird"))


def test_blend_search_keeps_the_weight_the_guide_scores_best(cgan_run, guide):
  latents = np.asarray(cgan_run.family.latents(jax.random.PRNGKey(0), 5), np.float32)
  search = hybrids.blend_search(cgan_run, guide, latents, ("horse", "bird"), grid=3)
  assert search.table.shape == (3, 5)
  np.testing.assert_allclose(search.scores, search.table.max(axis=0))
  np.testing.assert_allclose(search.weights, np.array([0.0, 0.5, 1.0])[search.table.argmax(0)])
  # each kept image is the blend at its weight, and the guide's score is that image's
  weights = np.stack([blending.parse_blend(f"horse:{w},bird:{1 - w}", LABELS)
                      for w in search.weights])
  np.testing.assert_array_equal(hybrids.blended_images(cgan_run, latents, weights), search.images)
  np.testing.assert_allclose(scoring.score_images(guide, search.images)[0], search.scores,
                             rtol=1e-6)
  with pytest.raises(ConfigError, match="exactly two"):
    hybrids.blend_search(cgan_run, guide, latents, ("horse",))
