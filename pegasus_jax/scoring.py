"""Image scorers for latent search and optimisation: higher is better, differentiable, jittable.

A `Scorer` is a pure function `fn(params, images) -> (N,)` of images in [-1, 1] (N, H, W, C),
plus the params it reads (passed as jit arguments, never baked in as constants). Built-ins:

- 'discriminators': a JointGAN's K class discriminators: sum_c log sigmoid(D_c(x)) = the log of
  the product of the per-class "real" probabilities. High only where *every* class
  discriminator accepts the image: for horse + bird, a pegasus candidate.
- 'discriminator': the same for a single-discriminator run (DCGAN, K = 1); errors for K > 1.

Adding a scorer (e.g. 'pegasus', from a horse/bird classifier): write a factory
`factory(run, options) -> Scorer` (`options`: the `--scorer_option key=value` pairs, e.g. a
classifier checkpoint path) and register it with `register_scorer('pegasus', factory)` at import
time of a module that `pegasus_jax.latent` imports (or list it in `_SCORERS` below).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import ScoresWithDiscriminators, require

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Scorer:
  """`fn(params, images) -> (N,)` scores (higher = better); `details` gives named (N,) parts."""

  name: str
  fn: Callable[[PyTree, jax.Array], jax.Array]
  params: PyTree
  details: Callable[[PyTree, jax.Array], dict[str, jax.Array]] | None = None
  description: str = ""


ScorerFactory = Callable[[Any, Mapping[str, str]], Scorer]
_SCORERS: dict[str, ScorerFactory] = {}


def register_scorer(name: str, factory: ScorerFactory) -> None:
  """Make `factory` available as `--scorer=name` in `pegasus_jax.latent`."""
  _SCORERS[name] = factory


def scorer_names() -> tuple[str, ...]:
  return tuple(sorted(_SCORERS))


def create_scorer(name: str, run: Any, options: Mapping[str, str] | None = None) -> Scorer:
  """The scorer `name` for a loaded run (`restore.TrainedRun`)."""
  if name not in _SCORERS:
    raise ConfigError(f"--scorer={name!r} is unknown; available: {list(scorer_names())}")
  return _SCORERS[name](run, dict(options or {}))


def _discriminator_scorer(run: Any, options: Mapping[str, str], single: bool) -> Scorer:
  family = run.family
  require(family, ScoresWithDiscriminators, f"--scorer={'discriminator' if single else 'discriminators'}",
          run.config.family)
  labels = tuple(family.class_labels)
  if single and len(labels) != 1:
    raise ConfigError(f"--scorer=discriminator needs a single-discriminator run; this one has "
                     f"{len(labels)} ({list(labels)}): use --scorer=discriminators")
  if options:
    raise ConfigError(f"the discriminator scorers take no options; got {dict(options)}")

  def fn(state: PyTree, images: jax.Array) -> jax.Array:
    return jnp.sum(jax.nn.log_sigmoid(family.discriminator_logits(state, images)), axis=0)

  def details(state: PyTree, images: jax.Array) -> dict[str, jax.Array]:
    probs = jax.nn.sigmoid(family.discriminator_logits(state, images))
    return {f"p_real/{label}": probs[k] for k, label in enumerate(labels)}

  what = " x ".join(f"D_{label}" for label in labels)
  return Scorer(name="discriminator" if single else "discriminators", fn=fn, params=run.state,
                details=details, description=f"log of the product of sigmoids: {what}")


register_scorer("discriminators", lambda run, options: _discriminator_scorer(run, options, False))
register_scorer("discriminator", lambda run, options: _discriminator_scorer(run, options, True))
