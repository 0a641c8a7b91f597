"""BiGAN's three MLPs (Donahue et al. 2017, appendix C.1, permutation-invariant MNIST).

Images are flattened, so nothing here depends on the image layout (any H x W x C works):

- `Encoder` E: x -> 1024, LeakyReLU(0.2) -> 1024, BN, LeakyReLU -> z (linear, z_dim);
- `Generator` G: z -> 1024, BN, ReLU -> 1024, BN, ReLU -> H*W*C, tanh (the paper's sigmoid
  for [0, 1] images becomes tanh for the project's [-1, 1]);
- `JointDiscriminator` D(x, z): x -> 1024, LeakyReLU -> [h, z] -> 1024, BN (or none),
  LeakyReLU -> one logit. Feeding z into the second layer through a linear map is what the
  authors' code does (a learned projection of z added before the normalisation); a linear layer
  on the concatenation [h, z] is that same sum.

The first layers of E and D have no batch norm, as in the paper. Initialisation: 'pytorch' is
PyTorch's default for linear layers (U(+-1/sqrt(fan_in)) for kernels and biases), which the
write-up 004 used; 'normal' is the paper's N(0, 0.02) kernels with zero biases.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

INITS = ("pytorch", "normal")
DISCRIMINATOR_NORMS = ("batch", "none")


def _uniform_fan_in(fan_in: int) -> Callable:
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for any shape: PyTorch's nn.Linear default."""
  bound = 1.0 / float(fan_in) ** 0.5

  def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def dense(features: int, fan_in: int, init: str, name: str | None = None) -> nn.Dense:
  """A linear layer with the configured initialisation (needs fan_in for the PyTorch one)."""
  if init == "pytorch":
    return nn.Dense(features, kernel_init=_uniform_fan_in(fan_in),
                    bias_init=_uniform_fan_in(fan_in), name=name)
  if init == "normal":
    return nn.Dense(features, kernel_init=nn.initializers.normal(0.02),
                    bias_init=nn.initializers.zeros, name=name)
  raise ValueError(f"unknown init {init!r}; valid: {INITS}")


def batch_norm(train: bool) -> nn.BatchNorm:
  # PyTorch's defaults (its momentum 0.1 is 0.9 here), as the write-up's PyTorch code had.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


def flatten(images: jax.Array) -> jax.Array:
  return images.reshape((images.shape[0], -1))


class Encoder(nn.Module):
  """Images (N, H, W, C) in [-1, 1] -> codes (N, z_dim)."""

  z_dim: int = 50
  hidden: int = 1024
  leaky_slope: float = 0.2
  initializer: str = "pytorch"

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = True) -> jax.Array:
    x = flatten(images)
    h = nn.leaky_relu(dense(self.hidden, x.shape[-1], self.initializer)(x), self.leaky_slope)
    h = dense(self.hidden, self.hidden, self.initializer)(h)
    h = nn.leaky_relu(batch_norm(train)(h), self.leaky_slope)
    return dense(self.z_dim, self.hidden, self.initializer)(h)


class Generator(nn.Module):
  """Codes (N, z_dim) -> images (N, *image_shape) in [-1, 1]."""

  image_shape: tuple[int, int, int] = (28, 28, 1)
  hidden: int = 1024
  initializer: str = "pytorch"

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    h = dense(self.hidden, z.shape[-1], self.initializer)(z)
    h = nn.relu(batch_norm(train)(h))
    h = dense(self.hidden, self.hidden, self.initializer)(h)
    h = nn.relu(batch_norm(train)(h))
    x = jnp.tanh(dense(math.prod(self.image_shape), self.hidden, self.initializer)(h))
    return x.reshape((z.shape[0],) + tuple(self.image_shape))


class JointDiscriminator(nn.Module):
  """Logits (N,) of "(x, z) is a real image with its encoding" against "a sample with its z"."""

  hidden: int = 1024
  leaky_slope: float = 0.2
  norm: str = "batch"
  initializer: str = "pytorch"

  @nn.compact
  def __call__(self, images: jax.Array, codes: jax.Array, train: bool = True) -> jax.Array:
    x = flatten(images)
    h = nn.leaky_relu(dense(self.hidden, x.shape[-1], self.initializer)(x), self.leaky_slope)
    joint = jnp.concatenate([h, codes], axis=-1)
    h = dense(self.hidden, joint.shape[-1], self.initializer)(joint)
    if self.norm == "batch":
      h = batch_norm(train)(h)
    elif self.norm != "none":
      raise ValueError(f"unknown discriminator norm {self.norm!r}; valid: "
                       f"{DISCRIMINATOR_NORMS}")
    h = nn.leaky_relu(h, self.leaky_slope)
    return dense(1, self.hidden, self.initializer)(h)[:, 0]
