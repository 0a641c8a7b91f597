"""The JointGAN train step: it learns, it is pure, and it sees each class's own images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import image_info, tiny_config
from pegasus_jax import families
from pegasus_jax.models import dcgan


def _family_and_state(**overrides):
  config = tiny_config(**overrides)
  family = families.create(config, image_info(("horse", "bird"), config.data.image_size))
  state = family.init(jax.random.PRNGKey(0))
  return config, family, state


def _real_batch(config, seed=0):
  rng = np.random.default_rng(seed)
  size = config.data.image_size
  shape = (2, config.batch_size * config.n_disc, size, size, 3)
  return {"real": jnp.asarray(rng.uniform(-1, 1, shape), jnp.float32)}


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge"])
def test_a_train_step_lowers_the_discriminator_loss_on_a_fixed_batch(loss):
  config, family, state = _family_and_state(loss=loss, optimizer__d_lr=1e-3, batch_size=8)
  batch = _real_batch(config)
  z = family.latents(jax.random.PRNGKey(5), config.batch_size)
  before = family.discriminator_losses(state, batch["real"], z)
  new_state, metrics = jax.jit(family.train_step)(state, batch)
  # Same real images, same fakes (old generator), new discriminators: every class improves.
  after = family.discriminator_losses(new_state.replace(g_params=state.g_params,
                                                        g_model_state=state.g_model_state),
                                      batch["real"], z)
  assert np.all(np.asarray(after) < np.asarray(before)), (before, after)
  assert metrics["d_loss"].shape == (2,) and metrics["g_loss"].shape == (2,)
  assert int(new_state.step) == 1


def test_step_updates_every_part_of_the_state_and_is_deterministic():
  config, family, state = _family_and_state()
  batch = _real_batch(config)
  step = jax.jit(family.train_step)
  s1, m1 = step(state, batch)
  s2, m2 = step(state, batch)
  for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s2)):
    np.testing.assert_array_equal(a, b)
  changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(
      jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
  assert changed(state.g_params, s1.g_params)
  assert changed(state.d_params, s1.d_params)
  assert changed(state.d_model_state[dcgan.SPECTRAL_COLLECTION],
                 s1.d_model_state[dcgan.SPECTRAL_COLLECTION])  # power iteration advanced
  assert changed(state.g_model_state, s1.g_model_state)  # generator batch-norm statistics
  # the next step draws new noise (fold_in of the step), so it differs from a repeat of step 0
  _, m_next = step(s1, batch)
  assert not np.array_equal(m1["g_loss"], m_next["g_loss"])


def test_each_discriminator_sees_only_its_own_class():
  """Replace class 1's real images: only discriminator 1's loss and update change."""
  config, family, state = _family_and_state(batch_size=4)
  batch = _real_batch(config, seed=0)
  other = _real_batch(config, seed=1)
  mixed = {"real": batch["real"].at[1].set(other["real"][1])}
  step = jax.jit(family.train_step)
  s_a, m_a = step(state, batch)
  s_b, m_b = step(state, mixed)
  assert m_a["d_loss"][0] == m_b["d_loss"][0]
  assert m_a["d_loss"][1] != m_b["d_loss"][1]
  kernel_a = s_a.d_params["DownConv_0"]["kernel"]
  kernel_b = s_b.d_params["DownConv_0"]["kernel"]
  np.testing.assert_array_equal(kernel_a[0], kernel_b[0])
  assert not np.array_equal(kernel_a[1], kernel_b[1])


def test_n_disc_discriminator_steps_per_generator_step():
  config, family, state = _family_and_state(n_disc=3, optimizer__d_lr=1e-3)
  new_state, _ = jax.jit(family.train_step)(state, _real_batch(config))
  assert int(new_state.d_opt_state[0].count) == 3  # Adam's step count
  assert int(new_state.g_opt_state[0].count) == 1


def test_generator_minimises_the_sum_of_class_losses():
  """The G gradient is the sum of the per-class generator-loss gradients."""
  config, family, state = _family_and_state()
  z = family.latents(jax.random.PRNGKey(3), 4)

  def class_losses(g_params):
    fake, _ = family._generate_train(g_params, state.g_model_state, z)
    logits = family.discriminator_logits(state, fake)
    from pegasus_jax.gan import losses
    return losses.generator_loss(config.loss, logits)

  jac = jax.jacrev(class_losses)(state.g_params)
  total = jax.grad(lambda p: jnp.sum(class_losses(p)))(state.g_params)
  for j, t in zip(jax.tree_util.tree_leaves(jac), jax.tree_util.tree_leaves(total)):
    np.testing.assert_allclose(j.sum(axis=0), t, rtol=1e-4, atol=1e-6)


def test_batch_norm_discriminator_judges_fakes_apart_from_the_real_batch():
  """With batch norm, D must see the fakes as the generator's step does: normalised on their own.

  Mixing real and fake in one batch made D's verdict on fakes depend on the real images beside
  them, while G's step sees fakes alone -- the two disagreed and the generator stopped learning.
  """
  config, family, state = _family_and_state(model__d_norm="batch", data__image_size=16,
                                           batch_size=4)
  assert "batch_stats" in state.d_model_state
  z = family.latents(jax.random.PRNGKey(1), 4)
  fake, _ = family._generate_train(state.g_params, state.g_model_state, z)
  logits = {}
  for seed in (0, 1):
    real = _real_batch(config, seed)["real"]
    _, logits[seed], _ = family._d_real_fake(state.d_params, state.d_model_state, real, fake,
                                             True)
  np.testing.assert_allclose(logits[0], logits[1], rtol=1e-6)
  alone, _ = family._d_apply(state.d_params, state.d_model_state,
                             jnp.broadcast_to(fake[None], (2,) + fake.shape), False)
  np.testing.assert_allclose(logits[0], alone, rtol=1e-5, atol=1e-6)
