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

`dtype` is the compute dtype (config.precision): the dense layers run in it, parameters and
batch-norm statistics stay float32. From each batch norm that precedes a network's last layer
on (E's code layer, D's logit layer: a sliver of the work) everything is float32, so the
cotangent entering that batch norm's backward pass, whose batch mean it subtracts, is not
rounded to bf16 first. The networks' outputs (codes, images, logits) are float32.

How close bf16's first gradient can be to float32's is limited by the gradient itself, not the
arithmetic: at initialisation E+G's gradient is a small difference of large terms in D's batch
norm, and float32 arithmetic from the parameters rounded to bf16 already moves it 14% at the
:cpu size (bf16: 17%; D 5% / 6%). Without D's batch norm both are about 2%
(benchmarks/precision_gradients.py, BENCHMARKS.md).
"""

from __future__ import annotations

import math
from typing import Any, Callable

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


def dense(features: int, fan_in: int, init: str, name: str | None = None,
          dtype: Any = jnp.float32) -> nn.Dense:
  """A linear layer with the configured initialisation (needs fan_in for the PyTorch one),
  computing in `dtype` with float32 parameters."""
  if init == "pytorch":
    return nn.Dense(features, kernel_init=_uniform_fan_in(fan_in),
                    bias_init=_uniform_fan_in(fan_in), dtype=dtype, name=name)
  if init == "normal":
    return nn.Dense(features, kernel_init=nn.initializers.normal(0.02),
                    bias_init=nn.initializers.zeros, dtype=dtype, name=name)
  raise ValueError(f"unknown init {init!r}; valid: {INITS}")


def batch_norm(train: bool, dtype: Any = jnp.float32) -> nn.BatchNorm:
  # PyTorch's defaults (its momentum 0.1 is 0.9 here), as the write-up's PyTorch code had.
  # Flax reduces the statistics in float32 whatever the output's `dtype`.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)


def flatten(images: jax.Array) -> jax.Array:
  return images.reshape((images.shape[0], -1))


class Encoder(nn.Module):
  """Images (N, H, W, C) in [-1, 1] -> codes (N, z_dim)."""

  z_dim: int = 50
  hidden: int = 1024
  leaky_slope: float = 0.2
  initializer: str = "pytorch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = True) -> jax.Array:
    x = flatten(images)
    layer = lambda features, fan_in: dense(features, fan_in, self.initializer, dtype=self.dtype)
    h = nn.leaky_relu(layer(self.hidden, x.shape[-1])(x), self.leaky_slope)
    h = layer(self.hidden, self.hidden)(h)
    # float32 from the batch norm on (see the module docstring): the code layer is a sliver.
    h = nn.leaky_relu(batch_norm(train, jnp.float32)(h), self.leaky_slope)
    return dense(self.z_dim, self.hidden, self.initializer, dtype=jnp.float32)(h)


class Generator(nn.Module):
  """Codes (N, z_dim) -> images (N, *image_shape) in [-1, 1]."""

  image_shape: tuple[int, int, int] = (28, 28, 1)
  hidden: int = 1024
  initializer: str = "pytorch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    layer = lambda features, fan_in: dense(features, fan_in, self.initializer, dtype=self.dtype)
    h = layer(self.hidden, z.shape[-1])(z)
    h = nn.relu(batch_norm(train, self.dtype)(h))
    h = layer(self.hidden, self.hidden)(h)
    h = nn.relu(batch_norm(train, self.dtype)(h))
    x = jnp.tanh(layer(math.prod(self.image_shape), self.hidden)(h).astype(jnp.float32))
    return x.reshape((z.shape[0],) + tuple(self.image_shape))


class JointDiscriminator(nn.Module):
  """Logits (N,) of "(x, z) is a real image with its encoding" against "a sample with its z"."""

  hidden: int = 1024
  leaky_slope: float = 0.2
  norm: str = "batch"
  initializer: str = "pytorch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, codes: jax.Array, train: bool = True) -> jax.Array:
    x = flatten(images)
    layer = lambda features, fan_in: dense(features, fan_in, self.initializer, dtype=self.dtype)
    h = nn.leaky_relu(layer(self.hidden, x.shape[-1])(x), self.leaky_slope)
    joint = jnp.concatenate([h, codes.astype(h.dtype)], axis=-1)
    h = layer(self.hidden, joint.shape[-1])(joint)
    if self.norm == "batch":  # float32 output, as the encoder's (see the module docstring)
      h = batch_norm(train, jnp.float32)(h)
    elif self.norm != "none":
      raise ValueError(f"unknown discriminator norm {self.norm!r}; valid: "
                       f"{DISCRIMINATOR_NORMS}")
    h = nn.leaky_relu(h, self.leaky_slope).astype(jnp.float32)
    return dense(1, self.hidden, self.initializer)(h)[:, 0]  # the logit layer: float32
