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

from typing import Any, Callable, ClassVar, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from pegasus_jax.models import conv_forms
from pegasus_jax.models.conv_forms import depth_to_space, space_to_depth  # noqa: F401 (re-export)
from pegasus_jax.run.precision import add_bias

Initializer = Callable[..., jax.Array]

DCGAN_INIT: Initializer = nn.initializers.normal(0.02)


# ICNR (Aitken et al. 2017): upsampling layers that start checkerboard-free, one initialiser
# per kernel layout: the sub-pixel conv before `depth_to_space` (`icnr`, the SN-GAN ResNet) and
# the transposed 4x4 kernel of `UpConv` (`transposed_icnr`, the DCGAN generator).


def icnr(base_init: Initializer, block: int = 2) -> Initializer:
  """ICNR (Aitken et al. 2017): a sub-pixel kernel (..., block^2 * C) whose block^2 phases are equal.

  The base initialiser draws one (..., C) kernel (so its fans are those of the conv it
  replaces) and every phase gets a copy; after `depth_to_space` the layer is then exactly
  "conv at low resolution, nearest-neighbour upsample", with no checkerboard at the start.
  """

  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    phases = block * block
    if shape[-1] % phases:
      raise ValueError(f"ICNR kernel's last dimension {shape[-1]} is not a multiple of {phases}")
    base = base_init(key, tuple(shape[:-1]) + (shape[-1] // phases,), dtype)
    # depth_to_space reads channel (phase, c) at phase * C + c, so tiling puts c in every phase.
    return jnp.tile(base, (1,) * (len(shape) - 1) + (phases,))

  return init


def transposed_icnr(base_init: Initializer = DCGAN_INIT) -> Initializer:
  """ICNR for `UpConv`'s 4x4 transposed kernel: a 2x2 draw, each tap
  repeated over a 2x2 block, so every output phase applies the same taps and the layer starts
  as a 2x2 convolution followed by nearest-neighbour upsampling (shifted by one pixel): no
  checkerboard at initialisation. Each output still sums four taps of `base_init`, so the
  output's scale is the plain initialisation's.
  """

  def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    if tuple(shape[:2]) != (4, 4):
      raise ValueError(f"transposed_icnr makes 4x4 kernels; asked for {tuple(shape)}")
    base = base_init(key, (2, 2) + tuple(shape[2:]), dtype)
    return jnp.repeat(jnp.repeat(base, 2, axis=0), 2, axis=1)

  return init


class _StrideTwoConv(nn.Module):
  """A 4x4 stride-2 convolution whose arithmetic `conv_forms.conv_fn(direction)` picks.

  The parameter is the 4x4 kernel in every form (subclasses set `direction`), so spectral norm,
  initialisation and checkpoints do not depend on the backend's form.
  """

  direction: ClassVar[str] = ""
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
    y = conv_forms.conv_fn(self.direction)(x, kernel)
    if self.use_bias:
      y = add_bias(y, self.param("bias", nn.initializers.zeros, (self.features,)))
    return y


class UpConv(_StrideTwoConv):
  """PyTorch-style `ConvTranspose2d(kernel=4, stride=2, padding=1)`: doubles H and W.

  Computed by the backend's fastest exact form (`conv_forms.best_form('up')`): on the CPU one
  2x2 stride-1 convolution to the four output phases (`conv_forms.up_subpixel`, exactly the
  transposed convolution's taps, a dilation-free backward pass); on GPU/TPU a 3x3 stride-1
  convolution to 4*features channels and a depth-to-space (`conv_forms.up_conv3x3`, 9 taps per
  phase where 4 contribute). Either way the parameter is the 4x4 kernel.
  """

  direction: ClassVar[str] = "up"


class DownConv(_StrideTwoConv):
  """PyTorch-style `Conv2d(kernel=4, stride=2, padding=1)`: halves H and W.

  Computed by the backend's fastest exact form (`conv_forms.best_form('down')`; on every
  backend today pad 1 + space-to-depth + a 2x2 stride-1 VALID convolution whose kernel is the
  4x4 parameter reshaped (k = 2q + b for block offset b and tap q), written as four shifted
  views and one matmul: under `vmap` (the stacked class discriminators) a batched matmul, where
  a convolution would become a grouped convolution, which XLA:CPU runs ~10x slower).
  """

  direction: ClassVar[str] = "down"
