"""models.flax_variables: parameters apart from the model state, and applying with it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax.models.flax_variables import apply_with_model_state, split_variables


class DenseBatchNorm(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool):
    return nn.BatchNorm(use_running_average=not train, momentum=0.5)(nn.Dense(3)(x))


X = jnp.arange(8.0).reshape(4, 2)


def test_split_keeps_params_apart_from_every_other_collection():
  variables = DenseBatchNorm().init(jax.random.PRNGKey(0), X, train=False)
  params, model_state = split_variables(variables)
  assert params is variables["params"]
  assert list(model_state) == ["batch_stats"]
  np.testing.assert_array_equal(model_state["batch_stats"]["BatchNorm_0"]["mean"], np.zeros(3))


def test_apply_updates_the_model_state_and_leaves_a_stateless_network_alone():
  module = DenseBatchNorm()
  params, model_state = split_variables(module.init(jax.random.PRNGKey(0), X, train=False))
  out, new_state = apply_with_model_state(module, params, model_state, X, train=True)
  assert out.shape == (4, 3)
  moved = new_state["batch_stats"]["BatchNorm_0"]["mean"]
  assert float(jnp.max(jnp.abs(moved))) > 0  # the running mean took a step towards the batch's

  dense = nn.Dense(3)
  dense_params, empty = split_variables(dense.init(jax.random.PRNGKey(1), X))
  out, same = apply_with_model_state(dense, dense_params, empty, X)
  assert same is empty and empty == {}
  np.testing.assert_allclose(out, X @ dense_params["kernel"] + dense_params["bias"], rtol=1e-6)
