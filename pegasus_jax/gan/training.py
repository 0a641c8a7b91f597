"""Pieces of a GAN train step that every generator family shares: optimisers with a learning-rate
schedule (Adam; BiGAN's Adam with L2 decay), the sampling (EMA) generator's update, and per-class
parameter norms.

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


def learning_rate(lr: float, optimizer: ml_collections.ConfigDict, total_updates: int
                  ) -> float | optax.Schedule:
  """`lr`, constant or (optimizer.schedule='linear') annealed to 0 over `total_updates`."""
  if optimizer.schedule == "linear":
    return optax.linear_schedule(lr, 0.0, max(1, total_updates))
  return lr


def adam(lr: float, optimizer: ml_collections.ConfigDict, total_updates: int
         ) -> optax.GradientTransformation:
  """Adam(b1, b2) at `lr`, constant or linearly annealed to 0 over `total_updates` updates."""
  return optax.adam(learning_rate(lr, optimizer, total_updates), b1=optimizer.b1,
                    b2=optimizer.b2)


def adam_with_l2(optimizer: ml_collections.ConfigDict, total_steps: int
                 ) -> optax.GradientTransformation:
  """BiGAN's optimiser: Adam at `optimizer.lr` with coupled L2 decay `optimizer.weight_decay`
  (wd * params added to the gradient before Adam's scaling).

  Coupled, not AdamW: the write-up's PyTorch `Adam(weight_decay=...)` and the authors' Theano
  regulariser both add the L2 gradient, so this is the decay they tuned.
  """
  return optax.chain(optax.add_decayed_weights(optimizer.weight_decay),
                     optax.scale_by_adam(b1=optimizer.b1, b2=optimizer.b2),
                     optax.scale_by_learning_rate(learning_rate(optimizer.lr, optimizer,
                                                                total_steps)))


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
