"""WGAN-GP gradient penalty against linear critics, whose input gradient is known exactly."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.gan import regularizers

KEY = jax.random.PRNGKey(0)
REAL = jax.random.normal(jax.random.PRNGKey(1), (5, 2, 3, 1))  # (B, H, W, C)
FAKE = jax.random.normal(jax.random.PRNGKey(2), (5, 2, 3, 1))


def _linear_critic(w):
  """f(x) = sum(w * x) per sample: its input gradient is w at every x."""
  return lambda x: jnp.sum(w * x, axis=(1, 2, 3))


def test_linear_critic_penalty_is_norm_minus_one_squared():
  w = jnp.arange(6.0).reshape(2, 3, 1) / 4  # ||w|| = sqrt(55)/4
  penalty, norms = regularizers.gradient_penalty(_linear_critic(w), REAL, FAKE, KEY)
  assert norms.shape == (5,)
  np.testing.assert_allclose(norms, math.sqrt(55) / 4, rtol=1e-6)
  assert float(penalty) == pytest.approx((math.sqrt(55) / 4 - 1) ** 2, rel=1e-6)
  # any interpolation gives the same: another key, another penalty target
  other, _ = regularizers.gradient_penalty(_linear_critic(w), REAL, FAKE, jax.random.PRNGKey(9),
                                           target=2.0)
  assert float(other) == pytest.approx((math.sqrt(55) / 4 - 2) ** 2, rel=1e-6)


def test_unit_norm_critic_has_zero_penalty():
  w = jnp.zeros((2, 3, 1)).at[0, 0, 0].set(0.6).at[1, 2, 0].set(-0.8)
  penalty, _ = regularizers.gradient_penalty(_linear_critic(w), REAL, FAKE, KEY)
  assert abs(float(penalty)) < 1e-10


def test_stacked_critics_average_over_classes_and_samples():
  # K = 3 critics with input-gradient norms 5, 0.5 and 1
  w = jnp.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
  real = jax.random.normal(jax.random.PRNGKey(3), (3, 4, 2, 2, 1))  # (K, B, H, W, C)
  fake = jax.random.normal(jax.random.PRNGKey(4), (3, 4, 2, 2, 1))
  critic = lambda x: jnp.einsum("kbd,kd->kb", x.reshape(3, 4, -1), w)
  penalty, norms = regularizers.gradient_penalty(critic, real, fake, KEY, batch_dims=2)
  assert norms.shape == (3, 4)
  np.testing.assert_allclose(norms, np.repeat([[5.0], [0.5], [1.0]], 4, axis=1), rtol=1e-6)
  assert float(penalty) == pytest.approx((16 + 0.25 + 0) / 3, rel=1e-6)


def test_penalty_gradient_wrt_critic_weights_is_analytic_under_jit():
  w = jnp.array([[[1.0], [2.0], [0.0]], [[-2.0], [0.5], [1.0]]])
  loss = lambda w: regularizers.gradient_penalty(_linear_critic(w), REAL, FAKE, KEY)[0]
  grad = jax.jit(jax.grad(loss))(w)
  norm = float(jnp.linalg.norm(w))
  np.testing.assert_allclose(grad, 2 * (norm - 1) * w / norm, rtol=1e-5)


def test_constant_critic_gradient_is_finite_thanks_to_epsilon():
  w = jnp.zeros((2, 3, 1))  # zero input gradient everywhere
  loss = lambda w, eps: regularizers.gradient_penalty(_linear_critic(w), REAL, FAKE, KEY,
                                                      epsilon=eps)[0]
  penalty = loss(w, 1e-12)
  assert float(penalty) == pytest.approx(1.0, abs=1e-5)
  grad = jax.grad(loss)(w, 1e-12)
  assert np.all(np.isfinite(grad)) and float(jnp.max(jnp.abs(grad))) == 0.0
  assert np.all(np.isnan(jax.grad(loss)(w, 0.0)))  # the plain norm would be 0/0 here


def test_interpolation_weights_are_in_unit_interval_and_per_sample():
  # critic sum(x^2)/2 has input gradient x_hat = u * 1 + (1 - u) * 0, so its norm is u * sqrt(D)
  real, fake = jnp.ones((64, 2, 2, 1)), jnp.zeros((64, 2, 2, 1))
  critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  _, norms = regularizers.gradient_penalty(critic, real, fake, KEY, epsilon=0.0)
  u = np.asarray(norms) / 2.0
  assert np.all(u >= 0) and np.all(u <= 1)
  assert len(np.unique(u)) == 64 and u.std() > 0.2  # one draw per sample, spread over [0, 1]
  x_hat = regularizers.interpolate(KEY, real, fake)
  np.testing.assert_allclose(x_hat[:, 0, 0, 0], u, rtol=1e-6)
  assert np.all(x_hat == x_hat[:, :1, :1, :1])  # one u per sample, shared by its pixels


def test_shape_mismatch_and_bad_batch_dims_are_errors():
  with pytest.raises(ValueError, match="same shape"):
    regularizers.interpolate(KEY, REAL, FAKE[:2])
  with pytest.raises(ValueError, match="batch_dims"):
    regularizers.interpolate(KEY, REAL, FAKE, batch_dims=5)
