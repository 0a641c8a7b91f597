"""The GAN recipe switches inside the families: ResNet networks, Wasserstein + gradient penalty,
EMA sampling, DiffAugment, and the conditional GAN's labels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import apply_overrides, image_info, tiny_config
from pegasus_jax import families
from pegasus_jax.config.validation import validate_config
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import ConditionalGenerator, GeneratesFromPrior


def resnet_config(**overrides):
  """The tiny JointGAN on the SN-GAN ResNet: 16x16 images (its smallest size), width 8."""
  fields = dict(model__arch="resnet", model__g_width=8, model__d_width=8, loss="hinge",
                data__image_size=16)
  fields.update(overrides)
  return tiny_config(**fields)


def _family(config, labels=("horse", "bird")):
  validate_config(config)
  family = families.create(config, image_info(labels, config.data.image_size))
  return family, jax.jit(family.init)(jax.random.PRNGKey(0))


def _real(config, num_classes=2, seed=0):
  n = config.batch_size * config.n_disc
  size = config.data.image_size
  rng = np.random.default_rng(seed)
  return {"real": jnp.asarray(rng.uniform(-1, 1, (num_classes, n, size, size, 3)), jnp.float32)}


def test_resnet_jointgan_trains_its_discriminators_learn_and_hinge_reports_critic_values():
  config = resnet_config(optimizer__d_lr=1e-3, batch_size=8)  # hinge loss
  family, state = _family(config)
  batch = _real(config)
  z = jax.random.normal(jax.random.PRNGKey(1), (8, config.model.z_dim))
  before = family.discriminator_losses(state, batch["real"], z)
  step = jax.jit(family.train_step)
  for _ in range(3):
    state, metrics = step(state, batch)
  after = family.discriminator_losses(state.replace(g_params=jax.device_get(state.g_params)),
                                      batch["real"], z)
  assert metrics["d_loss"].shape == (2,) and metrics["critic_real"].shape == (2,)
  # the stacked discriminators' summed loss (what their step minimises) goes down
  assert float(np.sum(after)) < 0.8 * float(np.sum(before))
  # hinge outputs are scores, not probabilities: critic values instead of sigmoids
  assert {"critic_real", "critic_fake", "wasserstein_estimate"} <= set(metrics)
  assert "d_real" not in metrics
  np.testing.assert_allclose(metrics["wasserstein_estimate"],
                             metrics["critic_real"] - metrics["critic_fake"], rtol=1e-5)


def test_wasserstein_critic_with_gradient_penalty_widens_the_estimate_and_reports_the_penalty():
  config = resnet_config(loss="wasserstein", gp_weight=10.0, model__d_norm="none",
                         optimizer__d_lr=1e-3, batch_size=8)
  family, state = _family(config)
  batch = _real(config)
  step = jax.jit(family.train_step)
  penalties = []
  for _ in range(4):
    state, metrics = step(state, batch)
    penalties.append(np.asarray(metrics["gradient_penalty"]))
  assert metrics["gradient_penalty"].shape == (2,) and np.all(penalties[-1] >= 0)
  assert np.all(np.isfinite(metrics["critic_grad_norm"]))
  assert np.all(np.isfinite(metrics["wasserstein_estimate"]))
  # An untrained critic's input gradients are far from norm 1; the penalty pulls them there.
  assert np.all(penalties[-1] < penalties[0])


def test_wasserstein_needs_a_lipschitz_critic_and_gp_refuses_batch_norm():
  with pytest.raises(ConfigError, match="loss='wasserstein' needs a Lipschitz critic"):
    validate_config(resnet_config(loss="wasserstein", model__d_norm="none"))
  with pytest.raises(ConfigError, match="gp_weight=10.0 needs a discriminator without batch norm"):
    validate_config(tiny_config(gp_weight=10.0, model__d_norm="batch"))
  with pytest.raises(ConfigError, match=r"config.diffaugment='colour' .*colour"):
    validate_config(tiny_config(diffaugment="colour"))


def test_sampling_uses_the_ema_generator_and_the_ema_follows_the_formula():
  config = tiny_config(ema__decay=0.5, ema__start_step=1)
  family, state = _family(config)
  z = family.latents(jax.random.PRNGKey(3), 4)
  shifted = jax.tree_util.tree_map(lambda p: p + 0.1, state.g_params)
  images = family.generate(state.replace(g_ema_params=shifted), z)
  expected = family.generator.apply({"params": shifted, **state.g_model_state}, z, train=False)
  np.testing.assert_array_equal(images, expected)
  step = jax.jit(family.train_step)
  s1, _ = step(state, _real(config))  # step 0 < start_step: a copy
  for a, b in zip(jax.tree_util.tree_leaves(s1.g_ema_params), jax.tree_util.tree_leaves(s1.g_params)):
    np.testing.assert_array_equal(a, b)
  s2, _ = step(s1, _real(config, seed=1))  # step 1: 0.5 * old ema + 0.5 * new params
  for e1, p2, e2 in zip(jax.tree_util.tree_leaves(s1.g_ema_params),
                        jax.tree_util.tree_leaves(s2.g_params),
                        jax.tree_util.tree_leaves(s2.g_ema_params)):
    np.testing.assert_allclose(e2, 0.5 * e1 + 0.5 * p2, rtol=1e-6, atol=1e-7)


def _spy_on_augment(family, monkeypatch) -> list:
  """Record the shape of every batch the family's DiffAugment call sees (at trace time)."""
  calls = []
  original = family._augment  # pylint: disable=protected-access

  def spy(key, images):
    calls.append(images.shape)
    return original(key, images)

  monkeypatch.setattr(family, "_augment", spy)
  return calls


def test_diffaugment_is_one_call_on_real_and_fake_together_and_off_is_the_identity(monkeypatch):
  config = tiny_config(diffaugment="translation,cutout", n_disc=2)
  family, state = _family(config)
  calls = _spy_on_augment(family, monkeypatch)
  jax.jit(family.train_step)(state, _real(config))  # the spy records at trace time
  size = config.data.image_size
  b = config.batch_size
  # The D step (traced once by lax.scan, run n_disc times) augments [real | fake] of each class
  # in one call; the G step augments its fakes.
  assert calls == [(2, 2 * b, size, size, 3), (2, b, size, size, 3)]
  off = tiny_config(n_disc=2)
  family_off, state_off = _family(off)
  monkeypatch.setattr(family_off, "_augment", lambda *a: pytest.fail("augmented with policy ''"))
  jax.jit(family_off.train_step)(state_off, _real(off))


def _cgan_config(**overrides):
  import cgan_cifar  # configs/cgan_cifar.py
  config = cgan_cifar.get_config("cpu")
  return apply_overrides(config, **dict(dict(
      batch_size=4, n_disc=2, total_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
      keep_checkpoints=5, num_sample_images=6, data__image_size=16, data__classes=("a", "b", "c"),
      model__g_width=8, model__d_width=8, model__z_dim=8), **overrides))


def test_conditional_gan_honours_labels_and_learns():
  config = _cgan_config(optimizer__d_lr=1e-3)
  family, state = _family(config, labels=("a", "b", "c"))
  assert isinstance(family, ConditionalGenerator) and isinstance(family, GeneratesFromPrior)
  rng = np.random.default_rng(0)
  n = config.batch_size * config.n_disc
  batch = {"image": jnp.asarray(rng.uniform(-1, 1, (n, 16, 16, 3)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 3, n), jnp.int32)}
  step = jax.jit(family.train_step)
  first = None
  for _ in range(4):
    state, metrics = step(state, batch)
    first = first if first is not None else float(metrics["d_loss"])
  assert np.isfinite(float(metrics["g_loss"])) and float(metrics["d_loss"]) < first
  # Conditional batch norm starts with the same gain/bias for every class; after training the
  # label changes the image, and the same label gives the same image.
  z = family.latents(jax.random.PRNGKey(1), 3)
  same = jnp.zeros((3,), jnp.int32)
  a = family.generate_conditional(state, z, same)
  b = family.generate_conditional(state, z, same + 2)
  np.testing.assert_array_equal(a, family.generate_conditional(state, z, same))
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4
  np.testing.assert_array_equal(family.generate(state, z),
                                family.generate_conditional(state, z, jnp.arange(3) % 3))


def test_conditional_gan_applies_diffaugment_to_real_and_fake_alike(monkeypatch):
  """DiffAugment is a recipe field of every GAN family: the conditional GAN augments [real |
  fake] in each D step and its fakes in the G step, with the same policy as JointGAN."""
  config = _cgan_config(diffaugment="translation")
  family, state = _family(config, labels=("a", "b", "c"))
  calls = _spy_on_augment(family, monkeypatch)
  rng = np.random.default_rng(0)
  n = config.batch_size * config.n_disc
  batch = {"image": jnp.asarray(rng.uniform(-1, 1, (n, 16, 16, 3)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 3, n), jnp.int32)}
  new_state, metrics = jax.jit(family.train_step)(state, batch)
  b = config.batch_size
  assert calls == [(2 * b, 16, 16, 3), (b, 16, 16, 3)]
  assert np.isfinite(float(metrics["d_loss"])) and int(new_state.step) == 1


def test_conditional_gan_checks_its_sampler_and_networks():
  with pytest.raises(ConfigError, match="conditional GAN learns from labelled batches"):
    validate_config(_cgan_config(data__sampler="class_balanced"))
  with pytest.raises(ConfigError, match="model.arch='dcgan'"):
    validate_config(_cgan_config(model__arch="dcgan"))
