"""Guided latent sampling: Langevin steps in z on prior + discriminator + augmented-guide energy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import save_initial_checkpoint, tiny_config
from pegasus_jax.generation import guided_latent as gl
from pegasus_jax.generation import scoring
from pegasus_jax.run import restore
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm

IDENTITY = lambda params, z: z  # the toy generator G(z) = z, on 2-D latents
CENTRES = jnp.array([[1.0, 2.0], [3.0, 2.0]])  # two classes; their overlap is the line x0 = 2


def _toy_guide() -> scoring.Scorer:
  """A 2-class 'classifier' of 2-D points (p_c from squared distances to the centres) and its
  pegasus score 2 * min(p_a, p_b): 1 on the line x0 = 2, falling off on either side."""
  def fn(params, x):
    logits = -0.5 * jnp.sum(jnp.square(x[:, None, :] - params["centres"][None]), axis=-1)
    return 2.0 * jnp.min(jax.nn.softmax(logits, axis=-1), axis=-1)
  return scoring.Scorer(name="toy", fn=fn, params={"centres": CENTRES})


def _prior(num=2000, seed=0):
  return jax.random.normal(jax.random.PRNGKey(seed), (num, 2))


def test_with_both_weights_zero_langevin_keeps_the_prior():
  options = gl.LangevinOptions(steps=300, step_size=0.05, noise=1.0, guide_weight=0.0)
  energy = gl.build_energy(IDENTITY, None, options)
  z, _ = gl.langevin(energy, _prior(), jax.random.PRNGKey(1), options)
  z = np.asarray(z)
  np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.1)
  np.testing.assert_allclose(z.var(axis=0), 1.0, atol=0.15)  # exact chain: 1 / (1 - h/2)
  # ... from a point mass at 0 too: the noise, not the start, makes the spread.
  z0, _ = gl.langevin(energy, jnp.zeros((2000, 2)), jax.random.PRNGKey(2), options)
  np.testing.assert_allclose(np.asarray(z0).var(axis=0), 1.0, atol=0.15)
  # without noise the same energy only pulls every latent to the prior's mode
  still = gl.LangevinOptions(steps=300, step_size=0.05, noise=0.0, guide_weight=0.0)
  z1, history = gl.langevin(energy, _prior(), jax.random.PRNGKey(1), still)
  assert np.abs(np.asarray(z1)).max() < 1e-4
  assert np.all(np.diff(np.asarray(history)) <= 0)  # gradient descent: energy never rises


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_the_guide_moves_latents_to_the_overlap(noise):
  guide = _toy_guide()
  options = gl.LangevinOptions(steps=200, step_size=0.02, noise=noise, guide_weight=4.0,
                               n_aug=1, augment="")
  z, history = gl.langevin(gl.build_energy(IDENTITY, None, options, guide), _prior(),
                           jax.random.PRNGKey(3), options)
  z = np.asarray(z)
  before = np.mean(np.abs(np.asarray(_prior())[:, 0] - 2.0))  # ~2: the prior sits at x0 = 0
  after = np.mean(np.abs(z[:, 0] - 2.0))
  assert after < 0.5 * before, (before, after)
  assert float(history[-1]) < float(history[0])
  scores = guide.fn(guide.params, jnp.asarray(z))
  assert float(jnp.mean(scores)) > 2 * float(jnp.mean(guide.fn(guide.params, _prior())))


@pytest.mark.parametrize("reduce", ["mean", "min"])
def test_the_discriminator_term_reduced_by_mean_or_min(reduce):
  # two "discriminators" whose logits peak at x0 = 1 and at x0 = 3
  disc = lambda params, x: -jnp.square(x[None, :, 0] - params[:, None])
  options = gl.LangevinOptions(steps=400, step_size=0.02, noise=0.0, guide_weight=0.0,
                               disc_weight=10.0, disc_reduce=reduce)
  energy = gl.build_energy(IDENTITY, None, options, disc_logits=disc,
                           disc_params=jnp.array([1.0, 3.0]))
  z, _ = gl.langevin(energy, _prior(200), jax.random.PRNGKey(4), options)
  z = np.asarray(z)
  np.testing.assert_allclose(z[:, 1], 0.0, atol=1e-2)  # only the prior acts on x1
  if reduce == "mean":  # E = |z|^2/2 + 5((x0-1)^2 + (x0-3)^2): minimum at x0 = 40/21
    np.testing.assert_allclose(z[:, 0], 40 / 21, atol=1e-3)
  else:  # E = |z|^2/2 + 10 max((x0-1)^2, (x0-3)^2): a kink at x0 = 2, the least convinced
    # class's side; constant steps stay within one step (h * |grad| ~ 0.44) of it
    assert np.all(np.abs(z[:, 0] - 2.0) < 0.5), z[:, 0]


@pytest.mark.parametrize("field, value, words", [
    ("steps", -1, "steps"), ("step_size", 0.0, "step_size"), ("noise", -1.0, "noise"),
    ("disc_reduce", "max", "disc_reduce"), ("n_aug", 0, "n_aug"),
    ("augment", "sharpen", "augment"), ("guide_weight", float("nan"), "guide_weight")])
def test_bad_options_are_config_errors_naming_the_option(field, value, words):
  with pytest.raises(ConfigError, match=words):
    gl.LangevinOptions(**{field: value}).check()


def test_weights_without_their_part_are_refused():
  with pytest.raises(ConfigError, match="guide"):
    gl.build_energy(IDENTITY, None, gl.LangevinOptions(guide_weight=1.0))
  with pytest.raises(ConfigError, match="discriminators"):
    gl.build_energy(IDENTITY, None, gl.LangevinOptions(guide_weight=0.0, disc_weight=1.0))


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
  workdir = save_initial_checkpoint(tiny_config(), ("horse", "bird"),
                                    str(tmp_path_factory.mktemp("guided_gan")))
  return restore.load_run(workdir)


def test_guided_sample_on_a_real_run_is_seeded_and_selects_the_best(gan_run,
                                                                     tiny_classifier_workdir):
  guide = scoring.classifier_scorer(gan_run, cm.load_classifier(tiny_classifier_workdir),
                                    ("horse", "bird"))
  options = gl.LangevinOptions(steps=3, step_size=0.05, disc_weight=0.5, guide_weight=1.0,
                               n_aug=2, augment="translation,cutout")
  first = gl.guided_sample(gan_run, guide, num=4, candidates=12, options=options, seed=0,
                           batch_size=8)
  again = gl.guided_sample(gan_run, guide, num=4, candidates=12, options=options, seed=0,
                           batch_size=8)
  np.testing.assert_array_equal(first.images, again.images)
  assert first.images.shape == (4, 8, 8, 3) and first.images.dtype == np.uint8
  assert first.energy_history.shape == (2, 4)
  # the kept four are the best four candidates, best first
  np.testing.assert_allclose(first.scores, np.sort(first.candidate_scores)[::-1][:4])
  np.testing.assert_allclose(first.details["pegasus"], first.scores, rtol=1e-6)
  other = gl.guided_sample(gan_run, guide, num=4, candidates=12, options=options, seed=1,
                           batch_size=8)
  assert not np.array_equal(first.latents, other.latents)
  with pytest.raises(ConfigError, match="num=13"):
    gl.guided_sample(gan_run, guide, num=13, candidates=12, options=options)
