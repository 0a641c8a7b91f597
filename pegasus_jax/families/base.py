"""What the one training loop needs from a GAN family.

A family owns its networks, losses, optimisers and train state; the loop (`pegasus_jax.train`)
owns devices, data, logging, sampling and checkpoints. Adding a family means writing one class
with this shape and registering it in `pegasus_jax.families`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import jax

Metrics = Mapping[str, jax.Array]
# Host-side periodic evaluation: train state -> scalars logged as they are named ('eval/...').
Evaluator = Callable[[Any], Mapping[str, float]]


class GANFamily(Protocol):
  """The contract between a family and `train.train_and_evaluate`."""

  #: Labels for per-class metric vectors: a metric of shape (K,) is logged as name/label.
  class_labels: tuple[str, ...]

  def init(self, rng: jax.Array) -> Any:
    """Build the whole train state (a pytree) from one PRNG key."""

  def train_step(self, state: Any, batch: Mapping[str, jax.Array]) -> tuple[Any, Metrics]:
    """One pure update (jitted by the loop); per-step randomness from `fold_in(rng, step)`."""

  # Optional parts (the loop checks with `has_generator` / `getattr`):
  #   has_generator = False       -- no generator (the classifier): no `latents`/`generate`,
  #                                  so no sample grids;
  #   evaluator(config) -> Evaluator  -- the family's own periodic evaluation (config.eval_every),
  #                                  built once; a generator without one is scored by the
  #                                  classifier in config.eval_classifier.

  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    """Draw `num` latent vectors from the generator's prior (families with a generator)."""

  def generate(self, state: Any, latents: jax.Array) -> jax.Array:
    """Images in [-1, 1], (N, H, W, C), with the generator in evaluation mode."""


def has_generator(family: Any) -> bool:
  """Whether the loop can draw sample grids from `family` (GANs yes, the classifier no)."""
  return getattr(family, "has_generator", True) and hasattr(family, "generate")
