"""Pieces of a GAN train step that every generator family shares: optimisers with a learning-rate
schedule, the sampling (EMA) generator's update, and per-class parameter norms.

Kept out of the families so JointGAN and the conditional GAN (and later ones) run the same
recipe code: a config field means the same thing in each.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from pegasus_jax.gan import ema

PyTree = Any
SCHEDULES = ("constant", "linear")  # linear: from lr down to 0 at the last update


def adam(lr: float, optimizer: ml_collections.ConfigDict, total_updates: int
         ) -> optax.GradientTransformation:
  """Adam(b1, b2) at `lr`, constant or linearly annealed to 0 over `total_updates` updates."""
  if optimizer.schedule == "linear":
    lr = optax.linear_schedule(lr, 0.0, max(1, total_updates))
  return optax.adam(lr, b1=optimizer.b1, b2=optimizer.b2)


def sampling_params(ema_params: PyTree, params: PyTree, step: jax.Array,
                    config: ml_collections.ConfigDict) -> PyTree:
  """The parameters sampling uses after a generator update at `step` (0-based).

  With `config.ema.decay` 0 they are the trained parameters; otherwise an exponential moving
  average of them from `config.ema.start_step` on (a copy before), saved in the checkpoint.
  """
  return ema.ema_update(ema_params, params, step, config.ema.decay, config.ema.start_step)


def per_class_norm(tree: PyTree, num_classes: int) -> jax.Array:
  """L2 norm of a stacked pytree, one value per leading-axis entry: (K,)."""
  squares = [jnp.sum(jnp.square(leaf.reshape(num_classes, -1)), axis=1)
             for leaf in jax.tree_util.tree_leaves(tree)]
  return jnp.sqrt(sum(squares))
