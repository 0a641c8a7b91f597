"""CIFAR ResNets (He et al. 2016, section 4.2): depth 6n + 2, three stages of n basic blocks.

Used as the evaluation classifier: its softmax gives the classifier Inception Score and the
pegasus score, and its pooled penultimate features give the Frechet classifier distance (FCD).
`width` scales every stage (16 -> the paper's ResNet-20/32/56; 32 or 64 -> a wide variant), and
the network is resolution-agnostic (global average pooling), so tests can run it on 8x8 images.

`dtype` is the compute dtype (config.precision): convolutions and batch norms' outputs run in
it; parameters and batch-norm statistics stay float32, and the pooled features and the logit
layer are float32 (they feed the loss and the FCD statistics).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

_CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def blocks_per_stage(depth: int) -> int:
  """n for depth = 6n + 2; raises ValueError for other depths."""
  if depth < 8 or (depth - 2) % 6:
    raise ValueError(f"model.depth={depth} is not a CIFAR ResNet depth: use 6n + 2 "
                     "(8, 14, 20, 32, 56, ...)")
  return (depth - 2) // 6


def _batch_norm(train: bool, dtype: Any, scale_init=nn.initializers.ones) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      scale_init=scale_init, dtype=dtype)


class BasicBlock(nn.Module):
  """conv-BN-ReLU-conv-BN plus a (1x1-projected when the shape changes) shortcut, then ReLU."""

  features: int
  stride: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = nn.Conv(self.features, (3, 3), (self.stride, self.stride), padding=1, use_bias=False,
                kernel_init=_CONV_INIT, dtype=self.dtype)(x)
    y = nn.relu(_batch_norm(train, self.dtype)(y))
    y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False, kernel_init=_CONV_INIT,
                dtype=self.dtype)(y)
    # Zero-initialised last BN scale: each block starts as the identity (Goyal et al. 2017).
    y = _batch_norm(train, self.dtype, nn.initializers.zeros)(y)
    if x.shape[-1] != self.features or self.stride != 1:
      x = nn.Conv(self.features, (1, 1), (self.stride, self.stride), use_bias=False,
                  kernel_init=_CONV_INIT, dtype=self.dtype)(x)
      x = _batch_norm(train, self.dtype)(x)
    return nn.relu(x + y)


class CifarResNet(nn.Module):
  """images (N, H, W, C) in [-1, 1] -> (logits (N, num_classes), features (N, 4 * width))."""

  num_classes: int = 10
  depth: int = 20
  width: int = 16
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    n = blocks_per_stage(self.depth)
    x = nn.Conv(self.width, (3, 3), padding=1, use_bias=False, kernel_init=_CONV_INIT,
                dtype=self.dtype)(x)
    x = nn.relu(_batch_norm(train, self.dtype)(x))
    for stage, multiplier in enumerate((1, 2, 4)):
      for block in range(n):
        stride = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(self.width * multiplier, stride, self.dtype)(x, train)
    features = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    logits = nn.Dense(self.num_classes)(features)
    return logits, features
