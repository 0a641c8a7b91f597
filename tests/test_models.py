"""Generator/discriminator shapes, spectral normalisation, and the vmapped class stack."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from pegasus_jax.models import dcgan


@pytest.mark.parametrize("size", [32, 64, 128])
def test_generator_and_discriminator_shapes(size):
  z = jnp.zeros((2, 16))
  generator = dcgan.Generator(image_size=size, width=8)
  variables = jax.eval_shape(lambda key: generator.init(key, z, False), jax.random.PRNGKey(0))
  images = jax.eval_shape(lambda v: generator.apply(v, z, train=False), variables)
  assert images.shape == (2, size, size, 3)
  discriminator = dcgan.Discriminator(image_size=size, width=8, norm="batch")
  x = jnp.zeros((2, size, size, 3))
  d_vars = jax.eval_shape(discriminator.init, jax.random.PRNGKey(0), x)
  logits = jax.eval_shape(lambda v: discriminator.apply(v, x, train=False), d_vars)
  assert logits.shape == (2,)


def test_generator_output_in_tanh_range():
  generator = dcgan.Generator(image_size=8, width=4)
  z = jax.random.normal(jax.random.PRNGKey(1), (3, 8)) * 10
  variables = generator.init(jax.random.PRNGKey(0), z, False)
  images = generator.apply(variables, z, train=False)
  assert float(jnp.max(jnp.abs(images))) <= 1.0


def test_unsupported_image_size_is_a_clear_error():
  with pytest.raises(ValueError, match="image_size=48"):
    dcgan.num_resolution_blocks(48)


class _SpectralDense(nn.Module):
  @nn.compact
  def __call__(self, x, update_stats):
    return nn.SpectralNorm(nn.Dense(6), collection_name=dcgan.SPECTRAL_COLLECTION)(
        x, update_stats=update_stats)


def test_spectral_norm_top_singular_value_is_one_after_power_iterations():
  module = _SpectralDense()
  x = jnp.ones((1, 5))
  variables = module.init(jax.random.PRNGKey(0), x, False)
  variables = {**variables, "params": jax.tree_util.tree_map(lambda p: 5 * p, variables["params"])}
  kernel = np.asarray(variables["params"]["Dense_0"]["kernel"])
  assert np.linalg.svd(kernel, compute_uv=False)[0] > 3  # far from normalised to begin with
  spectral = variables[dcgan.SPECTRAL_COLLECTION]
  for _ in range(30):
    _, updates = module.apply({**variables, dcgan.SPECTRAL_COLLECTION: spectral}, x, True,
                              mutable=[dcgan.SPECTRAL_COLLECTION])
    spectral = updates[dcgan.SPECTRAL_COLLECTION]
  sigma = float(spectral["SpectralNorm_0"]["Dense_0/kernel/sigma"])
  normalised = kernel / sigma
  assert np.linalg.svd(normalised, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-3)


def test_spectral_state_changes_only_when_asked():
  module = _SpectralDense()
  x = jnp.ones((1, 5))
  variables = module.init(jax.random.PRNGKey(0), x, False)
  _, frozen = module.apply(variables, x, False, mutable=[dcgan.SPECTRAL_COLLECTION])
  _, updated = module.apply(variables, x, True, mutable=[dcgan.SPECTRAL_COLLECTION])
  before = jax.tree_util.tree_leaves(variables[dcgan.SPECTRAL_COLLECTION])
  for a, b in zip(before, jax.tree_util.tree_leaves(frozen[dcgan.SPECTRAL_COLLECTION])):
    np.testing.assert_array_equal(a, b)
  changed = [not np.array_equal(a, b) for a, b in
             zip(before, jax.tree_util.tree_leaves(updated[dcgan.SPECTRAL_COLLECTION]))]
  assert all(changed)


@pytest.mark.parametrize("norm", ["spectral", "batch"])
def test_stack_equals_separately_applied_discriminators(norm):
  k, size = 3, 8
  kwargs = dict(image_size=size, width=4, norm=norm)
  stack = dcgan.class_discriminators(k, **kwargs)
  x = jax.random.normal(jax.random.PRNGKey(2), (k, 5, size, size, 3))
  variables = stack.init(jax.random.PRNGKey(0), x, False, True)
  kernels = variables["params"]["DownConv_0"]["kernel"]
  assert not np.allclose(kernels[0], kernels[1])  # each class has its own initialisation
  mutable = [c for c in variables if c != "params"]
  logits, new_state = stack.apply(variables, x, True, True, mutable=mutable)
  assert logits.shape == (k, 5)

  single = dcgan.Discriminator(**kwargs)
  for c in range(k):
    class_vars = jax.tree_util.tree_map(lambda v, c=c: v[c], variables)
    expected, expected_state = single.apply(class_vars, x[c], True, True, mutable=mutable)
    np.testing.assert_allclose(logits[c], expected, rtol=1e-5, atol=1e-5)
    for got, want in zip(jax.tree_util.tree_leaves(new_state),
                         jax.tree_util.tree_leaves(expected_state)):
      np.testing.assert_allclose(got[c], want, rtol=1e-5, atol=1e-6)
