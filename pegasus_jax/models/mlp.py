"""A small multi-layer perceptron: the 1-D toy GAN's generator and discriminator."""

from __future__ import annotations

import flax.linen as nn
import jax


class MLP(nn.Module):
  """Dense(hidden) -> LeakyReLU -> Dense(hidden) -> LeakyReLU -> Dense(out): three layers."""

  hidden: int
  out: int
  leaky_slope: float

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(2):
      x = nn.leaky_relu(nn.Dense(self.hidden)(x), self.leaky_slope)
    return nn.Dense(self.out)(x)
