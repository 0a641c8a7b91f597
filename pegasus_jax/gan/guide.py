"""The guide term of GAN training: a frozen classifier asks each fake to be half horse, half bird.

With `config.guide.weight` = lambda > 0 the generator also minimises

  lambda * E_z CE( (1/2 on each of `guide.classes`), guide(augment(G(z))) )

the cross-entropy between the target distribution (`guide.class_mass` moves it off the even
split, e.g. (0.4, 0.6)) and the guide classifier's (calibrated) full softmax, the images
augmented by a random DiffAugment draw (`guide.augment`) at every step so that a pixel pattern
which fools the guide on one view does not pay (CAN, Elgammal et al. 2017, puts a
classifier-ambiguity term in a GAN's objective; this one aims at two chosen classes).
Its gradient with respect to the classifier's logits is p - target: zero exactly where the
guide already reads the target, e.g. (1/2, 1/2).

The guide is never trained: its parameters are not in the generator's optimiser. Its checkpoint
path and a checksum of its weights are recorded in `config.guide.checksum` (and so in every
checkpoint's metadata): resuming a run with another guide is refused (`signature_fields`).

Loading the classifier run is the family's (`families.frozen_classifier`, the loader the
projected discriminator's backbone uses too); this module only holds what the GAN step needs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from pegasus_jax.errors import ConfigError
from pegasus_jax.gan import diffaugment

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Guide:
  """A frozen classifier: `log_probs(params, images)` -> calibrated log p(y|x), (N, C)."""

  log_probs: Callable[[PyTree, jax.Array], jax.Array]
  params: PyTree
  labels: tuple[str, ...]
  image_shape: tuple[int, ...]
  checksum: str  # of the weights, as the evaluation layer computes it
  workdir: str


def guide_from_classifier(family: Any, state: PyTree, temperature: float,
                          labels: Sequence[str], image_shape: Sequence[int], checksum: str,
                          workdir: str, tta: str | None = None) -> Guide:
  """A classifier family's calibrated log-probabilities, `family.apply(state, images)`, as a
  frozen guide; `tta`: its test-time views (None: the classifier's own, e.g. 'flip', which
  costs one forward and backward pass of the guide per view in every generator step)."""

  def log_probs(params: PyTree, images: jax.Array) -> jax.Array:
    logits, _ = family.apply(params, images, tta)
    return jax.nn.log_softmax(logits / temperature, axis=-1)

  return Guide(log_probs=log_probs, params=state, labels=tuple(labels),
               image_shape=tuple(image_shape), checksum=checksum, workdir=workdir)


def validate_class_mass(value: Any) -> str | None:
  """`config.guide.class_mass`: () (even) or one positive number per class, summing to 1."""
  if not isinstance(value, (tuple, list)):
    return "must be a tuple: () for an even split, or one number > 0 per guide.classes entry"
  if not value:
    return None
  if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
         or v <= 0 for v in value):
    return "must hold numbers > 0 (one per guide.classes entry)"
  if abs(sum(value) - 1.0) > 1e-6:
    return f"must sum to 1 (sums to {sum(value):.6g})"
  return None


def target_distribution(labels: Sequence[str], classes: Sequence[str],
                        mass: Sequence[float] = ()) -> jax.Array:
  """(C,) with `mass` (default: 1/len(classes) each) on `classes` among the guide's `labels`,
  0 elsewhere. An uneven mass such as (0.4, 0.6) still asks for both classes at once, leaning
  towards the second (the 'hybrid' target's class balance)."""
  missing = [name for name in classes if name not in labels]
  if missing or len(set(classes)) != len(classes) or len(classes) < 2:
    raise ConfigError(f"config.guide.classes={tuple(classes)} must be two or more different "
                      f"classes of the guide classifier {list(labels)}")
  problem = validate_class_mass(mass)
  if not problem and mass and len(mass) != len(classes):
    problem = f"needs one number per class of {tuple(classes)}"
  if problem:
    raise ConfigError(f"config.guide.class_mass={mass!r}: {problem}")
  mass = tuple(mass) or (1.0 / len(classes),) * len(classes)
  target = jnp.zeros((len(labels),), jnp.float32)
  return target.at[jnp.asarray([list(labels).index(name) for name in classes])].set(
      jnp.asarray(mass, jnp.float32))


def cross_entropy(log_probs: jax.Array, target: jax.Array) -> jax.Array:
  """-sum_y target(y) log p(y|x) per image: (N, C), (C,) -> (N,)."""
  return -jnp.sum(target * log_probs, axis=-1)


def any_class_nll(log_probs: jax.Array, target: jax.Array) -> jax.Array:
  """-log sum_{y: target(y) > 0} p(y|x) per image: small when the image is *one* of the classes
  (whichever is nearest), with no pull between them. (N, C), (C,) -> (N,)."""
  inside = jnp.where(target > 0, log_probs, -jnp.inf)
  return -jax.nn.logsumexp(inside, axis=-1)


# config.guide.target: what each fake is asked to be.
#   'hybrid': all of guide.classes at once, (1/K, ..., 1/K) (the pegasus; `cross_entropy`);
#   'any': one of guide.classes, the generator's choice per sample (`any_class_nll`): a
#          classifier prior towards recognisable members of the classes, not towards the overlap.
TARGETS = {"hybrid": cross_entropy, "any": any_class_nll}


def guide_loss(guide: Guide, images: jax.Array, key: jax.Array, policy: str,
               target: jax.Array, kind: str = "hybrid",
               blur_sigma: tuple[float, float] = diffaugment.BLUR_SIGMA) -> jax.Array:
  """The batch mean of `TARGETS[kind]` on the guide's view of `augment(images)`."""
  if kind not in TARGETS:
    raise ConfigError(f"config.guide.target={kind!r}; valid: {sorted(TARGETS)}")
  augmented = diffaugment.diff_augment(key, images, policy, blur_sigma)
  return jnp.mean(TARGETS[kind](guide.log_probs(guide.params, augmented), target))


def record_checksum(config: ml_collections.ConfigDict, guide: Guide) -> None:
  """Write the guide's checksum into `config.guide.checksum` (saved with every checkpoint); a
  checksum already there must be this guide's (a changed classifier at the same path is not
  the run's guide)."""
  given = config.guide.checksum
  if given and given != guide.checksum:
    raise ConfigError(f"config.guide.checksum={given!r}, but the guide classifier "
                      f"{guide.workdir} has weights {guide.checksum!r}: it is not the "
                      "classifier this run was trained with")
  config.guide.checksum = guide.checksum
