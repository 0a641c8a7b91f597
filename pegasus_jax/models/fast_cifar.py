"""A small, fast-to-train CIFAR convnet: the evaluator that fits a few CPU minutes.

Why this shape: the fastest published CIFAR-10 recipes (Page's "How to train your ResNet",
hlb-CIFAR10, airbench) reach 94% in about ten epochs with a plain VGG-like net of three
conv-pool-BN-activation groups, because it spends its FLOPs at low resolution and converges in
few steps. The ingredients kept here, each for a reason:

- a frozen 2x2 *patch-whitening* first convolution: its kernel is computed from the data (the
  eigenvectors of the 2x2x3 patch covariance, scaled to unit variance, and their negatives), so
  the first layer is good from step 0 and never costs a gradient. It is a statistic of the data,
  like batch-norm moments, so it lives in the 'batch_stats' collection and is filled in the first
  training step from that step's batch (no extra data pass, and a resumed run restores it);
- identity ("dirac") initialisation of every 3x3 conv: each group starts close to the identity,
  an implicit residual without residual branches;
- batch norm without a learnable scale, a fast-moving running average (momentum 0.6), GELU;
- max-pool after the first conv of each group, a global max-pool, a bias-free linear head whose
  logits are scaled down (`logit_scale`), which keeps the early softmax soft.

Pooling crops odd sizes to even (31 -> 30 -> 15, like a floor-mode pool) and is written as a
reshape + max, whose gradient needs no select-and-scatter. Unlike airbench, the whitening layer
has no learnt bias: it would need the input gradient of the 31x31 conv, which costs about as much
as that conv's forward pass (measured).
Three pools after the 2x2 whitening need images of at least 16x16 (32 -> 15, 7, 3).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

WHITEN_EPS = 5e-4  # added to the patch covariance's eigenvalues (images in [-1, 1] scale)


def dirac_init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
  """Default (fan-in uniform) kernel whose first min(C_in, C_out) filters are identities."""
  kh, kw, cin, cout = shape
  bound = 1.0 / jnp.sqrt(kh * kw * cin)
  kernel = jax.random.uniform(key, shape, dtype, -bound, bound)
  n = min(cin, cout)
  identity = jnp.zeros((kh, kw, cin, n), dtype).at[kh // 2, kw // 2].set(jnp.eye(cin, n))
  return kernel.at[..., :n].set(identity)


def whitening_kernel(images: jax.Array, size: int, eps: float = WHITEN_EPS) -> jax.Array:
  """(size, size, C, 2 * size * size * C) kernel that whitens the images' size x size patches.

  Filters are the patch covariance's eigenvectors divided by sqrt(eigenvalue + eps), then the
  same negated (so a following GELU loses no sign information).
  """
  n, h, w, c = images.shape
  patches = jnp.stack([images[:, i:h - size + 1 + i, j:w - size + 1 + j]
                       for i in range(size) for j in range(size)], axis=3)
  flat = patches.reshape(-1, size * size * c).astype(jnp.float32)  # (i, j, c) order
  flat = flat - jnp.mean(flat, axis=0)
  covariance = flat.T @ flat / flat.shape[0]
  eigenvalues, eigenvectors = jnp.linalg.eigh(covariance)
  filters = eigenvectors / jnp.sqrt(jnp.maximum(eigenvalues, 0.0) + eps)  # columns
  kernel = filters.reshape(size, size, c, size * size * c)
  return jnp.concatenate([kernel, -kernel], axis=-1)


def _conv_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _kernel_grad_shifts(x: jax.Array, dy: jax.Array, size: int) -> jax.Array:
  """dL/dkernel of a stride-1 'SAME' conv as size**2 matmuls (shifted input^T @ dy).

  One im2col matmul was as fast for the wide layers but materialises size**2 copies of the input.
  """
  n, h, w, c = x.shape
  p = size // 2
  padded = jnp.pad(x, ((0, 0), (p, size - 1 - p), (p, size - 1 - p), (0, 0)))
  dy = dy.reshape(-1, dy.shape[-1])
  taps = [jax.lax.dot_general(padded[:, i:i + h, j:j + w].reshape(-1, c), dy,
                              (((0,), (0,)), ((), ())))
          for i in range(size) for j in range(size)]
  return jnp.stack(taps).reshape(size, size, c, dy.shape[-1])


@jax.custom_vjp
def conv_matmul_grad(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A stride-1 'SAME' conv whose kernel gradient is computed by matmuls.

  Why: XLA:CPU computes the kernel gradient of a conv as another convolution, which on the
  2-core CPU ran 3-10x slower than the forward pass for 64-256 channels at 7x7-15x15 (e.g.
  4.7 s vs 0.45 s at 15x15, 64 -> 256, batch 500); as nine shifted matmuls it runs near the
  forward pass's speed. The input gradient stays XLA's. Every layer uses it, the first one
  (24 whitened channels at 31x31) too: there XLA's kernel gradient took 224 ms against 48 ms
  (batch 64, width 48, quiet), and the judge's whole step ran 1.66x faster (BENCHMARKS.md).
  """
  return _conv_same(x, kernel)


def _conv_fwd(x: jax.Array, kernel: jax.Array):
  return _conv_same(x, kernel), (x, kernel)


def _conv_bwd(residuals, dy: jax.Array):
  x, kernel = residuals
  _, input_vjp = jax.vjp(lambda inputs: _conv_same(inputs, kernel), x)
  return input_vjp(dy)[0], _kernel_grad_shifts(x, dy, kernel.shape[0])


conv_matmul_grad.defvjp(_conv_fwd, _conv_bwd)


class Conv3x3(nn.Module):
  """Bias-free 3x3 'SAME' conv, dirac-initialised, with the matmul kernel gradient."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", dirac_init, (3, 3, x.shape[-1], self.features))
    return conv_matmul_grad(x, kernel)


def max_pool2(x: jax.Array) -> jax.Array:
  """2x2 max-pool, stride 2, dropping an odd last row/column (floor mode)."""
  n, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class ConvGroup(nn.Module):
  """conv -> pool -> BN -> GELU -> conv -> BN -> GELU."""

  features: int
  bn_momentum: float

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                epsilon=1e-5, use_scale=False)
    x = Conv3x3(self.features)(x)
    x = nn.gelu(norm()(max_pool2(x)))
    x = Conv3x3(self.features)(x)
    return nn.gelu(norm()(x))


class FastCifarNet(nn.Module):
  """images (N, H, W, C) in [-1, 1] -> (logits (N, num_classes), features (N, widths[-1]))."""

  num_classes: int = 10
  widths: tuple[int, ...] = (64, 256, 256)
  whiten_size: int = 2
  bn_momentum: float = 0.6
  logit_scale: float = 1.0 / 9.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    size, channels = self.whiten_size, x.shape[-1]
    width = 2 * size * size * channels
    kernel = self.variable("batch_stats", "whiten_kernel", jnp.zeros,
                           (size, size, channels, width))
    ready = self.variable("batch_stats", "whiten_ready", jnp.zeros, ())
    if train and not self.is_initializing():
      # Filled once, from the first training batch; afterwards carried along unchanged.
      kernel.value = jax.lax.cond(ready.value > 0, lambda: kernel.value,
                                  lambda: whitening_kernel(x, size))
      ready.value = jnp.ones(())
    x = jax.lax.conv_general_dilated(x, jax.lax.stop_gradient(kernel.value), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = nn.gelu(x)
    for features in self.widths:
      x = ConvGroup(features, self.bn_momentum)(x, train)
    features = jnp.max(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, use_bias=False)(features) * self.logit_scale
    return logits, features
