"""CycleGAN's networks (Zhu et al. 2017), sized for 32x32 digits.

- `ResnetGenerator`: a 7x7 convolution, `downsamples` stride-2 convolutions, `blocks` residual
  blocks at the lowest resolution, as many x2 upsamplings and a 7x7 convolution to the target
  domain's channels with tanh. The paper's (Johnson et al.'s) layout at a smaller scale: 32x32
  digits need 2 halvings and a few blocks, not 9 blocks at 256x256. Upsampling is
  nearest-neighbour + 3x3 convolution instead of the paper's transposed convolution, which
  leaves checkerboard artefacts that stand out on flat digit backgrounds.
- `PatchDiscriminator`: the PatchGAN, a fully convolutional net giving one real/fake score per
  overlapping patch (8x8 scores for a 32x32 image, each seeing 26x26 pixels), so it judges local
  texture and colour while the cycle loss keeps the content.

Both normalise with instance norm (no batch statistics: nothing but parameters to save, and
each image is translated on its own) and use reflection padding at the borders (zero padding
would be a visible frame on a coloured background). Kernels start from N(0, 0.02) as in the
paper's code, drawn by `init_params` in one random call for the whole network.

`dtype` is the compute dtype (config.precision): convolutions and instance norms' outputs run
in it (Flax reduces the statistics in float32), parameters stay float32, and the translated
images and the patch scores leave the networks as float32 (the scores' last convolution, a
sliver of the work, computes in float32).

At initialisation the generators' gradient is very sensitive to their weights (instance norm
after every convolution: a small difference of large terms), so float32 arithmetic from the
parameters rounded to bf16 moves it 30% at the :cpu size; bf16 moves it 41%, the
discriminators' 3% (floor 2%). No layer stands out (each convolution's rounding contributes), so
no part is kept in float32 beyond the outputs (benchmarks/precision_gradients.py, BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

KERNEL_STD = 0.02
CYCLEGAN_INIT = nn.initializers.normal(KERNEL_STD)


def init_params(module: nn.Module, key: jax.Array, example: jax.Array) -> Any:
  """The module's parameters: kernels N(0, 0.02), instance-norm scales 1, biases 0.

  The distribution Flax's initialisers give these modules, but from one normal draw sliced into
  every kernel: each Flax initialiser call is a random-bits kernel of its own, and XLA on a CPU
  takes ~10x longer to compile a CycleGAN's ~40 of them than the network itself.
  """
  abstract = jax.eval_shape(module.init, key, example)["params"]
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  sizes = [int(np.prod(leaf.shape)) if path[-1].key == "kernel" else 0 for path, leaf in leaves]
  draws = KERNEL_STD * jax.random.normal(key, (sum(sizes),))
  params, offset = [], 0
  for (path, leaf), size in zip(leaves, sizes):
    if size:
      params.append(draws[offset:offset + size].reshape(leaf.shape))
      offset += size
    else:
      fill = jnp.ones if path[-1].key == "scale" else jnp.zeros
      params.append(fill(leaf.shape, leaf.dtype))
  return jax.tree_util.tree_unflatten(treedef, params)


def _reflect_conv(x: jax.Array, features: int, kernel: int, dtype: Any, name: str | None = None
                  ) -> jax.Array:
  """A stride-1 'same' convolution whose border pixels come from reflection, not zeros."""
  pad = kernel // 2
  x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  return nn.Conv(features, (kernel, kernel), padding="VALID", kernel_init=CYCLEGAN_INIT,
                 dtype=dtype, name=name)(x)


class ResidualBlock(nn.Module):
  """x + IN(conv(ReLU(IN(conv(x))))): the generator's content-keeping body."""

  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    norm = lambda: nn.InstanceNorm(dtype=self.dtype)
    y = nn.relu(norm()(_reflect_conv(x, self.features, 3, self.dtype)))
    y = norm()(_reflect_conv(y, self.features, 3, self.dtype))
    return x + y


class ResnetGenerator(nn.Module):
  """images (N, H, W, C_in) in [-1, 1] -> images (N, H, W, out_channels) in [-1, 1]."""

  out_channels: int
  width: int = 32
  blocks: int = 4
  downsamples: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    norm = lambda: nn.InstanceNorm(dtype=self.dtype)
    h = nn.relu(norm()(_reflect_conv(x, self.width, 7, self.dtype)))
    for level in range(1, self.downsamples + 1):
      h = nn.Conv(self.width * 2**level, (3, 3), (2, 2), padding=1,
                  kernel_init=CYCLEGAN_INIT, dtype=self.dtype)(h)
      h = nn.relu(norm()(h))
    for _ in range(self.blocks):
      h = ResidualBlock(self.width * 2**self.downsamples, self.dtype)(h)
    for level in reversed(range(self.downsamples)):
      h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)  # nearest-neighbour x2
      h = nn.relu(norm()(_reflect_conv(h, self.width * 2**level, 3, self.dtype)))
    return jnp.tanh(_reflect_conv(h, self.out_channels, 7, self.dtype).astype(jnp.float32))


class PatchDiscriminator(nn.Module):
  """images (N, H, W, C) -> patch scores (N, H / 4, W / 4): least-squares targets 1 real, 0 fake."""

  width: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda features, kernel, strides=(1, 1): nn.Conv(
        features, kernel, strides, padding=1, kernel_init=CYCLEGAN_INIT, dtype=self.dtype)
    norm = lambda: nn.InstanceNorm(dtype=self.dtype)
    h = nn.leaky_relu(conv(self.width, (4, 4), (2, 2))(x), 0.2)
    h = nn.leaky_relu(norm()(conv(self.width * 2, (4, 4), (2, 2))(h)), 0.2)
    h = nn.leaky_relu(norm()(conv(self.width * 4, (3, 3))(h)), 0.2).astype(jnp.float32)
    return nn.Conv(1, (3, 3), padding=1, kernel_init=CYCLEGAN_INIT)(h)[..., 0]
