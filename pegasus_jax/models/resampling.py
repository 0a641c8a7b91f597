"""Stride-2 convolutions written as dense convolutions plus depth/space rearrangements.

Why: on XLA:CPU the weight gradient of a stride-2 transposed convolution and the input gradient
of a stride-2 convolution are pathologically slow (a 32x32 DCGAN step: 11.5 s with
`nn.ConvTranspose` vs 1.0 s this way, see BENCHMARKS.md). Both layers below keep the usual
4x4 kernel as their parameter (so spectral norm, initialisation and checkpoints see the familiar
shape) and compute exactly the same function as PyTorch's `ConvTranspose2d(4, 2, padding=1)` and
`Conv2d(4, 2, padding=1)`; only the arithmetic is rearranged into stride-1 convolutions, which
every backend handles well.

Both take a compute `dtype` (config.precision): the input and the kernel are cast to it for the
arithmetic, while the parameters themselves stay float32 (None: the input's dtype); the bias is
added in float32 (`precision.add_bias`).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from pegasus_jax.models.conv_forms import depth_to_space, space_to_depth
from pegasus_jax.precision import add_bias

Initializer = Callable[..., jax.Array]

DCGAN_INIT: Initializer = nn.initializers.normal(0.02)


# For ConvTranspose(k=4, s=2, p=1): output row 2i+a gathers input rows i-1, i, i+1 (taps 0..2)
# through kernel rows _UP_TAPS[a][tap] (-1: no contribution). Derived from o = 2*i - 1 + k.
_UP_TAPS = ((3, 1, -1), (-1, 2, 0))
_UP_SELECT = np.zeros((2, 3, 4), np.float32)
for _phase, _taps in enumerate(_UP_TAPS):
  for _tap, _k in enumerate(_taps):
    if _k >= 0:
      _UP_SELECT[_phase, _tap, _k] = 1.0


class UpConv(nn.Module):
  """PyTorch-style `ConvTranspose2d(kernel=4, stride=2, padding=1)`: doubles H and W.

  Computed as a 3x3 stride-1 convolution to 4*features channels and a depth-to-space, with the
  3x3 kernel gathered from the 4x4 parameter on the fly.
  """

  features: int
  kernel_init: Initializer = DCGAN_INIT
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cin = x.shape[-1]
    if self.dtype is not None:
      x = x.astype(self.dtype)
    kernel = self.param("kernel", self.kernel_init, (4, 4, cin, self.features))
    select = jnp.asarray(_UP_SELECT, kernel.dtype)
    # k3[th, tw, i, a, b, o] = sum_{kh,kw} S[a,th,kh] S[b,tw,kw] kernel[kh,kw,i,o]
    k3 = jnp.einsum("ahk,bwl,klio->hwiabo", select, select, kernel)
    k3 = k3.reshape(3, 3, cin, 4 * self.features)
    y = jax.lax.conv_general_dilated(
        x, k3.astype(x.dtype), (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = depth_to_space(y, 2)
    if self.use_bias:
      y = add_bias(y, self.param("bias", nn.initializers.zeros, (self.features,)))
    return y


class DownConv(nn.Module):
  """PyTorch-style `Conv2d(kernel=4, stride=2, padding=1)`: halves H and W.

  Computed as pad 1 + space-to-depth + a 2x2 stride-1 VALID convolution whose kernel is the 4x4
  parameter reshaped (k = 2q + b for block offset b and tap q), written as patches @ kernel.
  """

  features: int
  kernel_init: Initializer = DCGAN_INIT
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cin = x.shape[-1]
    if self.dtype is not None:
      x = x.astype(self.dtype)
    kernel = self.param("kernel", self.kernel_init, (4, 4, cin, self.features))
    k2 = kernel.reshape(2, 2, 2, 2, cin, self.features)  # (qh, bh, qw, bw, i, o)
    k2 = k2.transpose(0, 2, 1, 3, 4, 5).reshape(16 * cin, self.features)
    xs = space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), 2)
    h, w = xs.shape[1] - 1, xs.shape[2] - 1
    # The 2x2 VALID convolution as four shifted views and one matmul: under `vmap` (the stacked
    # class discriminators) this is a batched matmul, where a convolution would become a
    # grouped convolution, which XLA:CPU runs ~10x slower.
    patches = jnp.concatenate(
        [xs[:, qh:qh + h, qw:qw + w] for qh in (0, 1) for qw in (0, 1)], axis=-1)
    y = jnp.dot(patches, k2.astype(x.dtype))
    if self.use_bias:
      y = add_bias(y, self.param("bias", nn.initializers.zeros, (self.features,)))
    return y
