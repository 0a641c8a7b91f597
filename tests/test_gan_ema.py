"""Parameter EMA against a hand loop, the copy phase, and jit with a traced step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.gan import ema

PARAMS = [{"w": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)},
          {"w": jnp.array([0.0, -2.0]), "b": jnp.array(1.0)},
          {"w": jnp.array([4.0, 4.0]), "b": jnp.array(-1.0)},
          {"w": jnp.array([2.0, 0.0]), "b": jnp.array(0.5)}]


def _run(update, decay, start_step):
  average = jax.tree_util.tree_map(jnp.zeros_like, PARAMS[0])
  history = []
  for step, params in enumerate(PARAMS):
    average = update(average, params, step, decay, start_step)
    history.append(average)
  return history


def test_formula_matches_hand_loop_after_start_step():
  history = _run(ema.ema_update, 0.9, 1)
  expected_w, expected_b = [1.0, 2.0], 3.0  # step 0 < start_step: a copy
  for step in (1, 2, 3):
    expected_w = [0.9 * e + 0.1 * p for e, p in zip(expected_w, PARAMS[step]["w"].tolist())]
    expected_b = 0.9 * expected_b + 0.1 * float(PARAMS[step]["b"])
  np.testing.assert_allclose(history[-1]["w"], expected_w, rtol=1e-6)
  np.testing.assert_allclose(history[-1]["b"], expected_b, rtol=1e-6)
  # by hand: w [1, 2] -> [.9, 1.6] -> [1.21, 1.84] -> [1.289, 1.656]; b 3 -> 2.8 -> 2.42 -> 2.228
  np.testing.assert_allclose(history[-1]["w"], [1.289, 1.656], rtol=1e-6)
  assert float(history[-1]["b"]) == pytest.approx(2.228, rel=1e-6)


def test_copies_params_before_start_step_and_with_zero_decay():
  for step, average in enumerate(_run(ema.ema_update, 0.99, 3)[:3]):
    np.testing.assert_array_equal(average["w"], PARAMS[step]["w"])
  for step, average in enumerate(_run(ema.ema_update, 0.0, 0)):
    np.testing.assert_array_equal(average["w"], PARAMS[step]["w"])


def test_jit_with_traced_step_equals_eager():
  jitted = jax.jit(ema.ema_update)  # step, decay and start_step all traced
  for eager, traced in zip(_run(ema.ema_update, 0.5, 2), _run(jitted, 0.5, 2)):
    np.testing.assert_allclose(traced["w"], eager["w"], rtol=1e-7)
    np.testing.assert_allclose(traced["b"], eager["b"], rtol=1e-7)


def test_dtypes_kept_and_integer_leaves_copied():
  average = {"w": jnp.zeros(2, jnp.bfloat16), "count": jnp.array(0, jnp.int32)}
  params = {"w": jnp.ones(2, jnp.float32), "count": jnp.array(7, jnp.int32)}
  new = ema.ema_update(average, params, 5, 0.5, 0)
  assert new["w"].dtype == jnp.bfloat16 and new["count"].dtype == jnp.int32
  np.testing.assert_allclose(np.asarray(new["w"], np.float32), [0.5, 0.5])
  assert int(new["count"]) == 7
