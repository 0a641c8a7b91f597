"""DCGAN-style generator and discriminator for square images of 32, 64, 128... pixels.

The generator maps z -> 4x4 feature map -> (image_size / 4 doubling blocks) -> tanh image; the
discriminator mirrors it with halving blocks and a linear logit. Spectral normalisation (the
JointGAN discriminators) or batch normalisation (the seed's plain DCGAN) is a config choice.
Spectral norm uses `flax.linen.SpectralNorm`, whose power-iteration vector `u` and estimate
`sigma` live in the mutable collection `spectral`: updated when `update_stats=True` (the
discriminator's own training pass) and frozen otherwise (the generator's loss, evaluation).

`dtype` is the compute dtype (config.precision, `pegasus_jax.run.precision`): convolutions, dense
layers and batch norm's output run in it; parameters, batch-norm statistics and spectral norm's
power iteration stay float32 (it normalises the float32 kernel before the layer casts it). The
images G returns and the logits D returns are float32, and D's logit layer, a sliver of the
work whose output goes straight into the loss, computes in float32.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from pegasus_jax.models.resampling import DCGAN_INIT, DownConv, UpConv, transposed_icnr

SPECTRAL_COLLECTION = "spectral"
DISCRIMINATOR_NORMS = ("spectral", "batch", "none")
ACTIVATIONS = ("relu", "leaky_relu")


def num_resolution_blocks(image_size: int) -> int:
  """How many x2 blocks link the 4x4 base to `image_size`; raises for unsupported sizes."""
  blocks = math.log2(image_size / 4) if image_size >= 8 else -1
  if blocks < 1 or not float(blocks).is_integer():
    raise ValueError(
        f"data.image_size={image_size} is not supported by the DCGAN models: "
        "use a power of two >= 8 (e.g. 32, 64, 128).")
  return int(blocks)


def _activation(name: str, leaky_slope: float):
  if name == "relu":
    return nn.relu
  if name == "leaky_relu":
    return lambda x: nn.leaky_relu(x, leaky_slope)
  raise ValueError(f"unknown activation {name!r}; valid: {ACTIVATIONS}")


def _batch_norm(train: bool, dtype: Any) -> nn.BatchNorm:
  # PyTorch's defaults (momentum 0.1 there is 0.9 here), as the DCGAN write-ups used. Flax
  # reduces the statistics in float32 whatever `dtype` (the output's) is.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)


class Generator(nn.Module):
  """z (N, z_dim) -> images (N, S, S, channels) in [-1, 1]."""

  image_size: int = 32
  width: int = 64
  channels: int = 3
  activation: str = "relu"
  leaky_slope: float = 0.2
  icnr: bool = False  # every UpConv starts checkerboard-free (`transposed_icnr`)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    act = _activation(self.activation, self.leaky_slope)
    init = transposed_icnr() if self.icnr else DCGAN_INIT
    up = functools.partial(UpConv, kernel_init=init, dtype=self.dtype)
    blocks = num_resolution_blocks(self.image_size)
    features = self.width * 2 ** (blocks - 1)
    x = nn.Dense(4 * 4 * features, kernel_init=DCGAN_INIT, dtype=self.dtype)(z)
    x = x.reshape(z.shape[0], 4, 4, features)
    x = act(_batch_norm(train, self.dtype)(x))
    for _ in range(blocks - 1):
      features //= 2
      x = act(_batch_norm(train, self.dtype)(up(features)(x)))
    return jnp.tanh(up(self.channels)(x).astype(jnp.float32))


class Discriminator(nn.Module):
  """images (N, S, S, C) -> logits (N,).

  `update_stats` advances the spectral-norm power iteration; `train` selects batch statistics
  over running averages for batch norm. The first block has no normalisation (DCGAN).
  """

  image_size: int = 32
  width: int = 64
  norm: str = "spectral"
  activation: str = "leaky_relu"
  leaky_slope: float = 0.2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False, train: bool = True) -> jax.Array:
    act = _activation(self.activation, self.leaky_slope)

    def layer(module: nn.Module, inputs: jax.Array) -> jax.Array:
      if self.norm == "spectral":
        return nn.SpectralNorm(module, collection_name=SPECTRAL_COLLECTION)(
            inputs, update_stats=update_stats)
      return module(inputs)

    features = self.width
    for block in range(num_resolution_blocks(self.image_size)):
      x = layer(DownConv(features, dtype=self.dtype), x)
      if self.norm == "batch" and block > 0:
        x = _batch_norm(train, self.dtype)(x)
      x = act(x)
      features *= 2
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    return layer(nn.Dense(1, kernel_init=DCGAN_INIT, dtype=jnp.float32), x)[:, 0]


def class_discriminators(num_classes: int, **discriminator_kwargs) -> nn.Module:
  """K independent `Discriminator`s as one module: every variable carries a leading K axis.

  Built with `nn.vmap`, so the K forward passes are one batched computation (not a Python loop)
  and each class gets its own initialisation (`split_rngs`). Called as
  `module(images, update_stats, train)` with images (K, N, S, S, C); returns logits (K, N).
  """
  stacked = nn.vmap(
      Discriminator,
      variable_axes={"params": 0, SPECTRAL_COLLECTION: 0, "batch_stats": 0},
      split_rngs={"params": True},
      in_axes=(0, None, None),
      out_axes=0,
      axis_size=num_classes,
  )
  return stacked(**discriminator_kwargs)
