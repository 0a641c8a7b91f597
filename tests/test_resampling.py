"""The rearranged stride-2 layers compute exactly PyTorch's ConvTranspose2d / Conv2d(4, 2, 1)."""

import jax
import numpy as np
import pytest

from pegasus_jax.models.resampling import (DCGAN_INIT, DownConv, UpConv, depth_to_space,
                                           space_to_depth, transposed_icnr)


def _naive_transposed_conv(x, w):
  """PyTorch ConvTranspose2d(k=4, s=2, p=1) by its definition: out[2i - 1 + k] += x[i] w[k]."""
  n, h, width, _ = x.shape
  out = np.zeros((n, 2 * h, 2 * width, w.shape[-1]), np.float64)
  for ih in range(h):
    for iw in range(width):
      for kh in range(4):
        for kw in range(4):
          oh, ow = 2 * ih - 1 + kh, 2 * iw - 1 + kw
          if 0 <= oh < 2 * h and 0 <= ow < 2 * width:
            out[:, oh, ow] += x[:, ih, iw] @ w[kh, kw]
  return out


def test_upconv_equals_transposed_convolution():
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
  layer = UpConv(4)
  variables = layer.init(jax.random.PRNGKey(0), x)
  w = np.asarray(variables["params"]["kernel"])
  assert w.shape == (4, 4, 3, 4)
  np.testing.assert_allclose(layer.apply(variables, x), _naive_transposed_conv(x, w), atol=1e-6)


def test_downconv_equals_strided_convolution():
  x = np.random.default_rng(1).normal(size=(2, 8, 6, 3)).astype(np.float32)
  layer = DownConv(5)
  variables = layer.init(jax.random.PRNGKey(0), x)
  w = variables["params"]["kernel"]
  expected = jax.lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)),
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y = layer.apply(variables, x)
  assert y.shape == (2, 4, 3, 5)
  np.testing.assert_allclose(y, expected, atol=1e-5)


def test_depth_to_space_inverts_space_to_depth():
  x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
  packed = space_to_depth(x)
  assert packed.shape == (2, 2, 3, 12)
  np.testing.assert_array_equal(depth_to_space(packed), x)
  # channel block (a, b) of output pixel (i, j) is input pixel (2i + a, 2j + b)
  np.testing.assert_array_equal(packed[0, 1, 2, 3:6], x[0, 2, 5])


def test_icnr_upconv_starts_as_nearest_neighbour_upsampling():
  """`transposed_icnr`: away from the border the output is constant on 2x2 blocks
  (offset by one pixel), i.e. no checkerboard; the plain initialisation is not."""
  x = np.random.default_rng(2).normal(size=(2, 5, 6, 3)).astype(np.float32)
  for init, blocky in ((transposed_icnr(), True), (DCGAN_INIT, False)):
    layer = UpConv(4, kernel_init=init)
    variables = layer.init(jax.random.PRNGKey(0), x)
    y = np.asarray(layer.apply(variables, x))[:, 1:-1, 1:-1]
    assert y.shape == (2, 8, 10, 4)
    corners = [y[:, a::2, b::2] for a in (0, 1) for b in (0, 1)]
    spread = max(float(np.abs(c - corners[0]).max()) for c in corners)
    assert (spread < 1e-6) if blocky else (spread > 1e-3), spread
  kernel = np.asarray(transposed_icnr()(jax.random.PRNGKey(1), (4, 4, 3, 5)))
  assert 0.01 < kernel.std() < 0.03  # the base initialiser's scale (normal, 0.02)
  with pytest.raises(ValueError, match="4x4 kernels"):
    transposed_icnr()(jax.random.PRNGKey(1), (3, 3, 3, 5))
