"""config.g_aggregate: how the JointGAN generator combines each sample's per-class losses."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import image_info, tiny_config
from pegasus_jax import families
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.cgan import ConditionalGAN, cgan_config
from pegasus_jax.families.jointgan import JointGAN
from pegasus_jax.models.mlp import MLP
from pegasus_jax.gan import aggregation, losses

# Two samples (columns), two classes (rows): sample 0 has losses (1, 2), sample 1 (3, 0).
LOSSES = jnp.array([[1.0, 3.0], [2.0, 0.0]])


def test_known_values_of_the_three_aggregates():
  # sum: sum_c mean_x l_c = 2 + 1
  np.testing.assert_allclose(aggregation.aggregate(LOSSES, "sum"), 3.0, rtol=1e-6)
  # max: K * mean_x max_c l_c = 2 * (2 + 3) / 2
  np.testing.assert_allclose(aggregation.aggregate(LOSSES, "max"), 5.0, rtol=1e-6)
  # softmax:1: K * mean_x sum_c softmax(l)_c l_c
  expected = [np.dot(np.exp(col) / np.exp(col).sum(), col) for col in ([1.0, 2.0], [3.0, 0.0])]
  np.testing.assert_allclose(aggregation.aggregate(LOSSES, "softmax:1"), 2 * np.mean(expected),
                             rtol=1e-6)


def test_softmax_tends_to_max_for_small_and_to_sum_for_large_temperatures():
  losses_kn = jax.random.uniform(jax.random.PRNGKey(0), (3, 16)) * 4
  np.testing.assert_allclose(aggregation.aggregate(losses_kn, "softmax:1e-4"),
                             aggregation.aggregate(losses_kn, "max"), rtol=1e-5)
  np.testing.assert_allclose(aggregation.aggregate(losses_kn, "softmax:1e5"),
                             aggregation.aggregate(losses_kn, "sum"), rtol=1e-4)


def test_max_sends_each_samples_gradient_to_its_worst_class_only():
  grad = jax.grad(lambda l: aggregation.aggregate(l, "max"))(LOSSES)
  # d/dl of K * mean_x: weight K / N = 1 on (class 1, sample 0) and (class 0, sample 1)
  np.testing.assert_allclose(grad, [[0.0, 1.0], [1.0, 0.0]])
  grad_sum = jax.grad(lambda l: aggregation.aggregate(l, "sum"))(LOSSES)
  np.testing.assert_allclose(grad_sum, np.full((2, 2), 0.5))


def test_per_sample_losses_average_to_the_per_class_losses():
  logits = jax.random.normal(jax.random.PRNGKey(1), (2, 8)) * 3
  for kind in losses.GAN_LOSSES:
    per_sample = aggregation.per_sample_generator_losses(kind, logits)
    assert per_sample.shape == (2, 8)
    np.testing.assert_allclose(jnp.mean(per_sample, axis=1), losses.generator_loss(kind, logits),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aggregation.aggregate(per_sample, "sum"),
                               jnp.sum(losses.generator_loss(kind, logits)), rtol=1e-5)


@pytest.mark.parametrize("bad, words", [("softmax:0", "T > 0"), ("softmax:-1", "T > 0"),
                                        ("softmax:inf", "T > 0"), ("softmax:x", "not a number"),
                                        ("foo", "unknown"), ("MAX", "unknown")])
def test_bad_values_are_a_config_error_naming_the_field(bad, words):
  with pytest.raises(ConfigError, match=r"config\.g_aggregate=.*" + words):
    JointGAN.check_config(tiny_config(g_aggregate=bad))


def test_valid_values_pass_and_the_default_is_sum():
  assert tiny_config().g_aggregate == "sum"
  for good in ("sum", "max", "softmax:0.5", "softmax:2"):
    JointGAN.check_config(tiny_config(g_aggregate=good))


def test_the_conditional_gan_refuses_an_aggregate():
  config = cgan_config()
  config.g_aggregate = "max"
  with pytest.raises(ConfigError, match="g_aggregate='max'.*JointGAN"):
    ConditionalGAN.check_config(config)


def _jointgan_step(aggregate):
  config = tiny_config(g_aggregate=aggregate)
  family = families.create(config, image_info(("horse", "bird"), config.data.image_size))
  state = family.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  real = rng.uniform(-1, 1, (2, config.batch_size * config.n_disc, 8, 8, 3)).astype(np.float32)
  return jax.jit(family.train_step)(state, {"real": jnp.asarray(real)})


def test_jointgan_step_sum_is_the_sum_and_max_differs():
  sum_state, sum_metrics = _jointgan_step("sum")
  max_state, max_metrics = _jointgan_step("max")
  # 'sum' is the unchanged objective: the total is exactly the sum of the per-class losses.
  assert float(sum_metrics["g_loss_total"]) == float(jnp.sum(sum_metrics["g_loss"]))
  # the same per-class losses (same D, same z), a larger total: K * mean max >= sum of means
  np.testing.assert_array_equal(sum_metrics["g_loss"], max_metrics["g_loss"])
  assert float(max_metrics["g_loss_total"]) > float(sum_metrics["g_loss_total"])
  leaves = jax.tree_util.tree_leaves
  assert not all(np.array_equal(a, b)
                 for a, b in zip(leaves(sum_state.g_params), leaves(max_state.g_params)))


# -- a known answer: two 1-D classes, N(-1.5, 0.5) and N(+1.5, 0.5), overlapping around 0 -----
MEANS, STD, START = jnp.array([-1.5, 1.5]), 0.5, 3.0


def _train_two_class_gan(aggregate: str, steps: int = 400, seed: int = 0) -> np.ndarray:
  """A tiny JointGAN (MLP G started at x ~ 3, right of both classes; a two-headed MLP D, one
  logit per class), non-saturating losses; 4,000 samples of the trained G."""
  g, d = MLP(16, 1, 0.2), MLP(16, 2, 0.2)
  g_key, d_key, key = jax.random.split(jax.random.PRNGKey(seed), 3)
  g_params = g.init(g_key, jnp.zeros((1, 1)))["params"]
  d_params = d.init(d_key, jnp.zeros((1, 1)))["params"]
  tx = optax.adam(2e-3, b1=0.5)
  generate = lambda params, z: START + g.apply({"params": params}, z)[:, 0]

  def step(carry, i):
    g_params, d_params, g_opt, d_opt = carry
    real_key, d_z_key, g_z_key = jax.random.split(jax.random.fold_in(key, i), 3)
    real = MEANS[:, None] + STD * jax.random.normal(real_key, (2, 64))
    fake = jax.lax.stop_gradient(generate(g_params, jax.random.normal(d_z_key, (64, 1))))

    def d_loss(params):
      real_logits = jnp.stack([d.apply({"params": params}, real[c][:, None])[:, c]
                               for c in range(2)])
      fake_logits = d.apply({"params": params}, fake[:, None]).T
      return jnp.sum(losses.discriminator_loss("nonsaturating", real_logits, fake_logits))

    updates, d_opt = tx.update(jax.grad(d_loss)(d_params), d_opt)
    d_params = optax.apply_updates(d_params, updates)

    def g_loss(params):
      x = generate(params, jax.random.normal(g_z_key, (64, 1)))
      logits = d.apply({"params": d_params}, x[:, None]).T
      return aggregation.aggregate(
          aggregation.per_sample_generator_losses("nonsaturating", logits), aggregate)

    updates, g_opt = tx.update(jax.grad(g_loss)(g_params), g_opt)
    return (optax.apply_updates(g_params, updates), d_params, g_opt, d_opt), None

  carry = (g_params, d_params, tx.init(g_params), tx.init(d_params))
  (g_params, *_), _ = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(steps)))(carry)
  return np.asarray(generate(g_params, jax.random.normal(jax.random.PRNGKey(99), (4000, 1))))


def test_max_puts_more_generated_mass_in_the_overlap_than_sum():
  in_overlap = lambda x: float(np.mean(np.abs(x) < 0.5))  # both class densities >= e^-2 peak
  summed, maxed = _train_two_class_gan("sum"), _train_two_class_gan("max")
  # sum settles on the nearer class's side; max is pulled between the two.
  assert in_overlap(maxed) > in_overlap(summed) + 0.5, (in_overlap(summed), in_overlap(maxed))
  assert np.median(np.abs(maxed)) < np.median(np.abs(summed))
