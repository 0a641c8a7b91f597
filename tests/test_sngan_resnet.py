"""SN-GAN ResNet: shapes, parameter counts, PatchConv, spectral state, the class stack, conditioning.

depth_to_space / space_to_depth are pinned down in test_resampling.py and not repeated here.
Speed: the networks run eagerly at one tiny shape (16x16, width 4, batch 2), so each op compiles
once for the whole file (jit would compile every test's network afresh), and the keys use the
`unsafe_rbg` PRNG, whose initialisers compile several times faster than threefry on XLA:CPU.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from pegasus_jax.models import sngan_resnet as sn
from pegasus_jax.models.dcgan import SPECTRAL_COLLECTION
from pegasus_jax.models.resampling import depth_to_space

SIZE, WIDTH, BATCH = 16, 4, 2


def _key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl="unsafe_rbg")


def _normal(seed: int, *shape: int) -> np.ndarray:
  """Test data from numpy: jax.random would compile a threefry kernel for every shape."""
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _images(seed: int = 1, k: int | None = None) -> np.ndarray:
  return _normal(seed, *(() if k is None else (k,)), BATCH, SIZE, SIZE, 3)


def _num_params(module: nn.Module, *args, **kwargs) -> int:
  variables = jax.eval_shape(lambda key: module.init(key, *args, **kwargs), jax.random.PRNGKey(0))
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(variables["params"]))


def _conv(k: int, cin: int, cout: int) -> int:
  return k * k * cin * cout + cout


# -- shapes and ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize("upsample,downsample,channels", [("nearest", "avg_pool", 3),
                                                          ("depth_to_space", "space_to_depth", 1)])
def test_generator_and_discriminator_shapes(upsample, downsample, channels):
  z, key = jnp.zeros((3, 8)), jax.random.PRNGKey(0)
  generator = sn.Generator(image_size=32, width=8, channels=channels, upsample=upsample)
  images, _ = jax.eval_shape(lambda k: generator.init_with_output(k, z, train=False), key)
  assert images.shape == (3, 32, 32, channels)
  discriminator = sn.Discriminator(image_size=32, width=8, downsample=downsample)
  x = jnp.zeros((3, 32, 32, channels))
  variables = jax.eval_shape(discriminator.init, key, x)
  logits, state = jax.eval_shape(
      lambda v: discriminator.apply(v, x, False, True, mutable=["intermediates"]), variables)
  assert logits.shape == (3,)
  assert state["intermediates"]["features"][0].shape == (3, 8)


@pytest.mark.parametrize("size,blocks", [(16, 2), (32, 3), (64, 4)])
def test_supported_sizes(size, blocks):
  assert sn.num_generator_blocks(size) == blocks
  key, z = jax.random.PRNGKey(0), jnp.zeros((2, 8))
  generator = sn.Generator(image_size=size, width=4)
  images, _ = jax.eval_shape(lambda k: generator.init_with_output(k, z, train=False), key)
  assert images.shape == (2, size, size, 3)
  discriminator = sn.Discriminator(image_size=size, width=4)
  logits, _ = jax.eval_shape(
      lambda k: discriminator.init_with_output(k, jnp.zeros((2, size, size, 3))), key)
  assert logits.shape == (2,)


def test_generator_output_in_tanh_range():
  z = _normal(1, BATCH, 8) * 10
  images, _ = sn.Generator(image_size=SIZE, width=WIDTH).init_with_output(_key(0), z, train=False)
  assert images.shape == (BATCH, SIZE, SIZE, 3)
  assert 0.5 < float(jnp.max(jnp.abs(images))) <= 1.0


# -- parameter counts at the paper's widths (G 256, D 128, z 128, CIFAR RGB) ----------------------


def _generator_count(upsample_factor: int, num_classes: int = 0, g: int = 256, z: int = 128) -> int:
  """`upsample_factor` is 1 for nearest, 4 for sub-pixel (conv1 and the shortcut output 4G)."""
  bn = 2 * num_classes * g if num_classes else 2 * g  # per-class or shared (gain, bias)
  dense = z * 4 * 4 * g + 4 * 4 * g
  block = (bn + _conv(3, g, upsample_factor * g) + bn + _conv(3, g, g)
           + _conv(1, g, upsample_factor * g))
  return dense + 3 * block + bn + _conv(3, g, 3)


def test_generator_parameter_counts():
  z = jnp.zeros((1, 128))
  nearest = _num_params(sn.Generator(upsample="nearest"), z, train=False)
  assert nearest == _generator_count(1) == 4_276_739
  # Quoted as "~4M"; table 4 taken literally gives 4.28M (6.9% above the round figure).
  assert abs(nearest / 4.0e6 - 1) < 0.07
  subpixel = _num_params(sn.Generator(upsample="depth_to_space"), z, train=False)
  assert subpixel == _generator_count(4) == 10_179_587
  conditional = _num_params(sn.Generator(num_classes=10), z, jnp.zeros((1,), jnp.int32),
                            train=False)
  assert conditional == _generator_count(1, num_classes=10)


def _discriminator_count(s2d: bool, num_classes: int = 0, d: int = 128, c: int = 3) -> int:
  f = 4 if s2d else 1  # space_to_depth: conv2 and the shortcut read 4x the channels
  optimized = _conv(3, c, d) + _conv(3, f * d, d) + _conv(1, f * c, d)
  down = _conv(3, d, d) + _conv(3, f * d, d) + _conv(1, f * d, d)
  plain = 2 * _conv(3, d, d)  # identity shortcut
  return optimized + down + 2 * plain + (d + 1) + num_classes * d


def test_discriminator_parameter_counts():
  x = jnp.zeros((1, 32, 32, 3))
  pooled = _num_params(sn.Discriminator(downsample="avg_pool"), x)
  assert pooled == _discriminator_count(False) == 1_053_825
  assert abs(pooled / 1.0e6 - 1) < 0.06  # quoted as "~1M": 5.4% above
  s2d = _num_params(sn.Discriminator(downsample="space_to_depth"), x)
  assert s2d == _discriminator_count(True) == 1_988_865
  projection = _num_params(sn.Discriminator(num_classes=10), x, labels=jnp.zeros((1,), jnp.int32))
  assert projection == _discriminator_count(False, num_classes=10)


# -- PatchConv ------------------------------------------------------------------------------------


def _lax_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias


@pytest.mark.parametrize("k", [1, 3])
def test_patch_conv_equals_lax_conv(k):
  x = _normal(0, 3, 2, 5, 6, 4)  # (K, N, H, W, C)
  kernels = _normal(1, 3, k, k, 4, 7)
  bias = _normal(2, 7)
  layer = sn.PatchConv(7, k, impl="matmul")
  shapes = jax.eval_shape(layer.init, jax.random.PRNGKey(0), x[0])["params"]
  assert shapes["kernel"].shape == (k, k, 4, 7) and shapes["bias"].shape == (7,)
  apply = lambda layer, kern, xi: layer.apply({"params": {"kernel": kern, "bias": bias}}, xi)
  expected = _lax_conv(x[0], kernels[0], bias)
  np.testing.assert_allclose(apply(layer, kernels[0], x[0]), expected, atol=1e-5)
  np.testing.assert_allclose(apply(sn.PatchConv(7, k, impl="conv"), kernels[0], x[0]), expected,
                             atol=1e-5)
  # under vmap over a stack of kernels, as in the class discriminators
  stacked = jax.vmap(lambda kern, xi: apply(layer, kern, xi))(kernels, x)
  np.testing.assert_allclose(stacked, jax.vmap(_lax_conv, (0, 0, None))(x, kernels, bias),
                             atol=1e-4)


# -- spectral normalisation -----------------------------------------------------------------------


def test_spectral_state_changes_only_when_asked():
  d = sn.Discriminator(image_size=SIZE, width=WIDTH, downsample="space_to_depth")
  x = _images()
  variables = d.init(_key(0), x)
  before = jax.tree_util.tree_leaves(variables[SPECTRAL_COLLECTION])
  assert len(before) == 2 * 8  # u and sigma for 7 convs and the logit layer
  _, frozen = d.apply(variables, x, False, mutable=[SPECTRAL_COLLECTION])
  _, updated = d.apply(variables, x, True, mutable=[SPECTRAL_COLLECTION])
  for a, b in zip(before, jax.tree_util.tree_leaves(frozen[SPECTRAL_COLLECTION])):
    np.testing.assert_array_equal(a, b)
  us = [(a, b) for a, b in zip(before, jax.tree_util.tree_leaves(updated[SPECTRAL_COLLECTION]))
        if a.ndim == 2 and a.shape[1] > 1]  # the u vectors of the convs (the logit's is a sign)
  assert len(us) == 7 and all(not np.array_equal(a, b) for a, b in us)


class _SpectralPatchConv(nn.Module):
  @nn.compact
  def __call__(self, x, update_stats):
    return nn.SpectralNorm(sn.PatchConv(6, 3, name="conv"), collection_name=SPECTRAL_COLLECTION)(
        x, update_stats=update_stats)


def test_spectral_norm_top_singular_value_is_one_after_power_iterations():
  module = _SpectralPatchConv()
  x = jnp.ones((1, 3, 3, 4))
  variables = module.init(_key(0), x, False)
  kernel = 5 * variables["params"]["conv"]["kernel"]
  matrix = np.asarray(kernel).reshape(3 * 3 * 4, 6)
  assert np.linalg.svd(matrix, compute_uv=False)[0] > 3  # far from normalised to begin with
  spectral = variables[SPECTRAL_COLLECTION]
  for _ in range(100):
    _, updates = module.apply({"params": {"conv": {**variables["params"]["conv"], "kernel": kernel}},
                               SPECTRAL_COLLECTION: spectral}, x, True,
                              mutable=[SPECTRAL_COLLECTION])
    spectral = updates[SPECTRAL_COLLECTION]
  sigma = float(spectral["SpectralNorm_0"]["conv/kernel/sigma"])
  assert np.linalg.svd(matrix / sigma, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-2)


# -- the stacked class discriminators -------------------------------------------------------------


def test_stack_equals_separately_applied_discriminators():
  k = 2
  kwargs = dict(image_size=SIZE, width=WIDTH, downsample="space_to_depth")
  stack = sn.class_discriminators(k, **kwargs)
  x = _images(2, k)
  variables = stack.init(_key(0), x, False, True)
  kernels = variables["params"]["DiscriminatorBlock_0"]["conv1"]["kernel"]
  assert kernels.shape[0] == k and not np.allclose(kernels[0], kernels[1])
  logits, new_state = stack.apply(variables, x, True, True, mutable=[SPECTRAL_COLLECTION])
  assert logits.shape == (k, BATCH)
  single = sn.Discriminator(**kwargs)
  for c in range(k):
    class_vars = jax.tree_util.tree_map(lambda v, c=c: v[c], variables)
    expected, expected_state = single.apply(class_vars, x[c], True, True,
                                            mutable=[SPECTRAL_COLLECTION])
    np.testing.assert_allclose(logits[c], expected, rtol=1e-5, atol=1e-5)
    for got, want in zip(jax.tree_util.tree_leaves(new_state),
                         jax.tree_util.tree_leaves(expected_state)):
      np.testing.assert_allclose(got[c], want, rtol=1e-5, atol=1e-6)


def test_stack_refuses_conditional_discriminators():
  with pytest.raises(ValueError, match="num_classes"):
    sn.class_discriminators(2, num_classes=3)


# -- conditioning ---------------------------------------------------------------------------------


def test_conditional_generator_follows_the_label():
  g = sn.Generator(image_size=SIZE, width=WIDTH, num_classes=3)
  z = _normal(1, BATCH, 8)
  variables = g.init(_key(0), z, jnp.array([0, 1]), train=False)
  assert variables["params"]["GeneratorBlock_0"]["bn1"]["gain"]["embedding"].shape == (3, WIDTH)
  # At init every class has gain 1 and bias 0; give the classes distinct values.
  leaves, treedef = jax.tree_util.tree_flatten_with_path(variables["params"])
  params = jax.tree_util.tree_unflatten(treedef, [
      p + 0.5 * _normal(i, *p.shape) if "embedding" in str(path) else p
      for i, (path, p) in enumerate(leaves)])
  out = lambda y: g.apply({**variables, "params": params}, z, jnp.array(y), train=False)
  np.testing.assert_array_equal(out([0, 1]), out([0, 1]))
  np.testing.assert_allclose(out([0, 1])[0], out([0, 2])[0], atol=1e-6)  # labels are per sample
  assert float(jnp.max(jnp.abs(out([0, 1])[1] - out([0, 2])[1]))) > 1e-2


def test_conditional_batch_norm_starts_as_plain_batch_norm():
  x = _normal(0, 4, 2, 2, 5) * 3 + 1
  labels = jnp.array([0, 1, 2, 1])
  cbn = sn.ConditionalBatchNorm(num_classes=3)
  variables = cbn.init(_key(0), x, labels, True)
  y, _ = cbn.apply(variables, x, labels, True, mutable=["batch_stats"])
  expected = (x - x.mean((0, 1, 2))) / jnp.sqrt(x.var((0, 1, 2)) + 1e-5)
  np.testing.assert_allclose(y, expected, atol=1e-4)


def test_projection_term_is_the_label_embedding_inner_product():
  d = sn.Discriminator(image_size=SIZE, width=WIDTH, num_classes=3, spectral_norm=False)
  x, labels = _images(), jnp.array([0, 2])
  params = d.init(_key(0), x, labels=labels)["params"]
  embedding = params["projection"]["embedding"].at[1].set(0.0)
  variables = {"params": {**params, "projection": {"embedding": embedding}}}
  logits, state = d.apply(variables, x, labels=labels, mutable=["intermediates"])
  h = state["intermediates"]["features"][0]
  linear = h @ params["logit"]["kernel"][:, 0] + params["logit"]["bias"][0]
  np.testing.assert_allclose(logits, linear + jnp.sum(embedding[labels] * h, -1), rtol=1e-5)
  # class 1's embedding is zero: its logit is the unconditional linear term alone
  np.testing.assert_allclose(d.apply(variables, x, labels=jnp.array([1, 1])), linear, rtol=1e-5)


def test_spectral_projection_discriminator_normalises_the_embedding():
  d = sn.Discriminator(image_size=SIZE, width=WIDTH, num_classes=3)
  variables = jax.eval_shape(lambda key: d.init(key, _images(), labels=jnp.array([0, 1])),
                             jax.random.PRNGKey(0))
  assert "projection/embedding/u" in variables[SPECTRAL_COLLECTION]["SpectralNorm_1"]


# -- ICNR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_icnr", [True, False])
def test_icnr_subpixel_conv_has_equal_phases(use_icnr):
  g = sn.Generator(image_size=SIZE, width=WIDTH, upsample="depth_to_space", icnr=use_icnr)
  conv1 = g.init(_key(0), jnp.zeros((BATCH, 8)), train=False)["params"]["GeneratorBlock_0"]["conv1"]
  assert conv1["kernel"].shape == (3, 3, WIDTH, 4 * WIDTH)
  layer = sn.PatchConv(4 * WIDTH, 3)
  for x in (jnp.ones((1, 4, 4, WIDTH)), _normal(3, 1, 4, 4, WIDTH)):
    y = depth_to_space(layer.apply({"params": conv1}, x))
    phases = jnp.stack([y[:, a::2, b::2] for a in (0, 1) for b in (0, 1)])
    spread = float(jnp.max(jnp.abs(phases - phases[0])))
    assert (spread < 1e-6) if use_icnr else (spread > 1e-2)


# -- errors ---------------------------------------------------------------------------------------


def test_errors_name_the_field():
  z, x, key = jnp.zeros((1, 8)), jnp.zeros((1, 32, 32, 3)), jax.random.PRNGKey(0)
  with pytest.raises(ValueError, match="image_size=48"):
    sn.Generator(image_size=48, width=4).init(key, z)
  with pytest.raises(ValueError, match="image_size=128"):
    sn.Discriminator(image_size=128, width=4).init(key, jnp.zeros((1, 128, 128, 3)))
  with pytest.raises(ValueError, match="upsample='bilinear'"):
    sn.Generator(width=4, upsample="bilinear").init(key, z)
  with pytest.raises(ValueError, match="downsample='max_pool'"):
    sn.Discriminator(width=4, downsample="max_pool").init(key, x)
  with pytest.raises(ValueError, match="conv_impl='fft'"):
    sn.Discriminator(width=4, conv_impl="fft").init(key, x)
  with pytest.raises(ValueError, match="num_classes=3"):
    sn.Generator(width=4, num_classes=3).init(key, z)
  with pytest.raises(ValueError, match="unconditional"):
    sn.Discriminator(width=4).init(key, x, labels=jnp.zeros((1,), jnp.int32))
