"""Critic regularisers: the WGAN-GP gradient penalty (Gulrajani et al. 2017).

A Wasserstein critic must be 1-Lipschitz. WGAN-GP softly enforces this by pushing the norm of the
critic's input gradient towards 1 on random points between real and fake samples, where the optimal
critic has unit gradient norm.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def interpolate(key: jax.Array, real: jax.Array, fake: jax.Array, *,
                batch_dims: int = 1) -> jax.Array:
  """x_hat = u * real + (1 - u) * fake with one u ~ U[0, 1] per sample.

  The first `batch_dims` axes are sample axes (1 for (B, ...), 2 for stacked classes (K, B, ...));
  u is drawn independently for every sample and broadcast over the remaining (feature) axes.
  """
  if real.shape != fake.shape:
    raise ValueError(f"real {real.shape} and fake {fake.shape} must have the same shape")
  if not 0 < batch_dims <= real.ndim:
    raise ValueError(f"batch_dims={batch_dims} must be in [1, {real.ndim}] for shape {real.shape}")
  u_shape = real.shape[:batch_dims] + (1,) * (real.ndim - batch_dims)
  u = jax.random.uniform(key, u_shape, dtype=real.dtype)
  return u * real + (1 - u) * fake


def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array], real: jax.Array,
                     fake: jax.Array, key: jax.Array, *, batch_dims: int = 1,
                     epsilon: float = 1e-12, target: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """The WGAN-GP penalty mean((||grad_x critic(x_hat)|| - target)^2) and the per-sample norms.

  `critic_fn` maps inputs of shape batch_shape + feature_shape to one score per sample
  (batch_shape = the first `batch_dims` axes: (B,) or (K, B) for K stacked critics). It closes
  over the critic's parameters, so this function can sit inside a loss that is differentiated with
  respect to them (a gradient of a gradient). The input gradient comes from jax.grad of the sum of
  the scores, which equals every sample's own gradient only because a critic scores each sample
  independently: it must not mix samples (no batch norm, as the paper says; layer norm is fine).

  The norm is sqrt(sum(g^2) + epsilon) over all feature axes, so its derivative stays finite where
  the input gradient vanishes (a constant critic) instead of being 0/0. The penalty is the mean
  over all samples (over k and b for stacked critics); `grad_norms` has shape batch_shape, for
  logging. Pass `fake` through jax.lax.stop_gradient in the caller if the generator must not
  receive this gradient.
  """
  x_hat = interpolate(key, real, fake, batch_dims=batch_dims)
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
  feature_axes = tuple(range(batch_dims, grads.ndim))
  grad_norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=feature_axes) + epsilon)
  penalty = jnp.mean(jnp.square(grad_norms - target))
  return penalty, grad_norms
