"""Each GAN loss against values computed by hand from the formulas."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.gan import losses

REAL = jnp.array([[2.0, -1.0], [0.0, 0.5]])  # (K=2 classes, 2 samples) of logits
FAKE = jnp.array([[-3.0, 1.0], [0.0, -0.5]])


def _log_sigmoid(x):
  return -math.log1p(math.exp(-x))


def test_bce_discriminator_loss_matches_hand_computation():
  expected = [
      -(_log_sigmoid(2.0) + _log_sigmoid(-1.0)) / 2 - (_log_sigmoid(3.0) + _log_sigmoid(-1.0)) / 2,
      -(_log_sigmoid(0.0) + _log_sigmoid(0.5)) / 2 - (_log_sigmoid(0.0) + _log_sigmoid(0.5)) / 2,
  ]
  for kind in ("nonsaturating", "minimax"):
    np.testing.assert_allclose(losses.discriminator_loss(kind, REAL, FAKE), expected, rtol=1e-6)
  # at D = 1/2 everywhere the loss is 2 log 2
  assert float(losses.discriminator_loss("minimax", jnp.zeros(4), jnp.zeros(4))) == pytest.approx(
      2 * math.log(2))


def test_generator_losses_match_hand_computation():
  # non-saturating: -E log D(G(z)); minimax: E log(1 - D(G(z))); D = sigmoid(logit)
  ns = [-(_log_sigmoid(-3.0) + _log_sigmoid(1.0)) / 2, -(_log_sigmoid(0.0) + _log_sigmoid(-0.5)) / 2]
  mm = [(_log_sigmoid(3.0) + _log_sigmoid(-1.0)) / 2, (_log_sigmoid(0.0) + _log_sigmoid(0.5)) / 2]
  np.testing.assert_allclose(losses.generator_loss("nonsaturating", FAKE), ns, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_loss("minimax", FAKE), mm, rtol=1e-6)


def test_hinge_losses_match_hand_computation():
  # D: E relu(1 - real) + E relu(1 + fake); G: -E fake
  d = [(0 + 2.0) / 2 + (0 + 2.0) / 2, (1.0 + 0.5) / 2 + (1.0 + 0.5) / 2]
  np.testing.assert_allclose(losses.discriminator_loss("hinge", REAL, FAKE), d, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_loss("hinge", FAKE), [1.0, 0.25], rtol=1e-6)


def test_unknown_loss_is_a_clear_error():
  with pytest.raises(ValueError, match="valid"):
    losses.generator_loss("wasserstein-ish", FAKE)
