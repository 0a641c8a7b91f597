"""Image scorers for latent search and optimisation: higher is better, differentiable, jittable.

A `Scorer` is a pure function `fn(params, images) -> (N,)` of images in [-1, 1] (N, H, W, C),
plus the params it reads (passed as jit arguments, never baked in as constants). Built-ins:

- 'discriminators': a JointGAN's K class discriminators: sum_c log sigmoid(D_c(x)) = the log of
  the product of the per-class "real" probabilities. High only where *every* class
  discriminator accepts the image: for horse + bird, a pegasus candidate.
- 'discriminator': the same for a single-discriminator run (DCGAN, K = 1); errors for K > 1.
- 'classifier': the evaluation classifier's pegasus score K * min_c p(c|x) over K >= 2 chosen
  classes (2 * min(p_horse, p_bird): 1 when the classifier splits its belief evenly between a
  horse and a bird, 0 when it is sure of one or of neither), the quantity `evaluate` averages.
  Options: classifier=WORKDIR (or WORKDIR,WORKDIR,...: an ensemble, p the mean of their
  calibrated probabilities), classes=horse,bird, classifier_checkpoint=best|latest, and
  disc_weight=W >= 0, which adds W times the 'discriminators' score: a classifier alone is
  easily fooled by images off the data manifold, the discriminators pull back towards it.

Adding a scorer: write a factory `factory(run, options) -> Scorer` (`options`: the
`--scorer_option key=value` pairs) and list `ScorerType(name, factory)` in `_SCORERS` below.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax import registry
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.families.base import GeneratesFromPrior, ScoresWithDiscriminators, require

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


@dataclasses.dataclass(frozen=True)
class ScorerType:
  """A scorer by name: what `--scorer=name` builds, `create(run, options) -> Scorer`."""

  name: str
  create: ScorerFactory


def scorer_names() -> tuple[str, ...]:
  return tuple(sorted(_SCORERS))


def parse_scorer_options(pairs: Sequence[str], **given: str | None) -> dict[str, str]:
  """`--scorer_option key=value` pairs, plus options a tool takes as flags of their own
  (`classifier=...`, `classes=...`; None: not given). A key given both ways is an error."""
  options: dict[str, str] = {}
  for pair in pairs:
    if "=" not in pair:
      raise ConfigError(f"--scorer_option={pair!r}: use key=value")
    key, value = pair.split("=", 1)
    options[key.strip()] = value.strip()
  for key, value in given.items():
    if value is None:
      continue
    if key in options:
      raise ConfigError(f"{key} given twice: as --{key} and as --scorer_option {key}=...")
    options[key] = value
  return options


def create_scorer(name: str, run: Any, options: Mapping[str, str] | None = None) -> Scorer:
  """The scorer `name` for a loaded run (`restore.TrainedRun`)."""
  if name not in _SCORERS:
    raise ConfigError(f"--scorer={name!r} is unknown; available: {list(scorer_names())}")
  return _SCORERS[name].create(run, dict(options or {}))


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




# -- the evaluation classifier ----------------------------------------------------------------
CLASSIFIER_OPTIONS = ("classifier", "classes", "classifier_checkpoint", "disc_weight")


def _generated_image_shape(run: Any) -> tuple[int, ...] | None:
  """(H, W, C) of the run's generated images, without computing any; None for non-generators."""
  family = run.family
  if not isinstance(family, GeneratesFromPrior) or run.state is None:
    return None
  latents = jax.eval_shape(lambda key: family.latents(key, 1), jax.random.PRNGKey(0))
  return tuple(jax.eval_shape(family.generate, run.state, latents).shape[1:])


def classifier_workdirs(value: str) -> list[str]:
  """The workdirs of a --guide / classifier= value: one, or a comma-separated ensemble."""
  workdirs = [path.strip() for path in value.split(",") if path.strip()]
  if not workdirs:
    raise ConfigError(f"classifier workdir(s) {value!r}: name at least one")
  return workdirs


def _training_guide_checksum(run: Any) -> str | None:
  """The weights hash of the guide classifier the run was trained against (its guide term),
  None when it had none. The same 16 digits as `LoadedClassifier.weights_hash`."""
  guide = getattr(getattr(run, "config", None), "guide", None)
  if not guide or not guide.get("weight"):
    return None
  return guide.get("checksum") or None


def classifier_scorer(run: Any,
                      classifier: cm.LoadedClassifier | Sequence[cm.LoadedClassifier],
                      classes: Sequence[str], disc_weight: float = 0.0) -> Scorer:
  """K * min over `classes` of the classifier's p(class | image), + disc_weight * 'discriminators'.

  `classifier` may be several classifiers of the same labels: an ensemble whose p is the mean
  of their calibrated probabilities. Of the images one guide reads as pegasi, a guide from
  another seed reads only a third to a half so, so the mean is harder to game (EVALUATION.md,
  "Selection by guides the generator never saw"). Differentiable in the images (min passes
  the gradient to the least likely chosen class, which is the one to raise) and jittable;
  params: {'classifier': a tuple of their states} and, with a disc_weight, {'discriminators':
  the run's state}.
  """
  members = ((classifier,) if isinstance(classifier, cm.LoadedClassifier)
             else tuple(classifier))
  if not members:
    raise ConfigError("the classifier scorer needs at least one classifier")
  classifier = members[0]
  for other in members[1:]:
    if other.labels != classifier.labels or other.image_shape != classifier.image_shape:
      raise ConfigError(f"an ensemble of guides needs the same labels and image shape: "
                        f"{classifier.workdir} has {list(classifier.labels)} "
                        f"{tuple(classifier.image_shape)}, {other.workdir} has "
                        f"{list(other.labels)} {tuple(other.image_shape)}")
  if len({member.weights_hash for member in members}) != len(members):
    raise ConfigError("an ensemble of guides lists the same weights twice: "
                      f"{[member.workdir for member in members]}")
  trained_against = _training_guide_checksum(run)
  for member in members:
    if member.weights_hash == trained_against:
      logging.warning(
          "the guide %s is the classifier this run's generator was trained against "
          "(config.guide): the generator learnt to please it, so the images it scores best are "
          "mostly what it likes, not what another classifier reads as %s (EVALUATION.md, "
          "'Selection by guides the generator never saw'); a guide from another seed, e.g. "
          "assets/select_guide, does not have this bias", member.workdir, "+".join(classes))
  indices = [classifier.class_index(str(name)) for name in classes]
  if len(indices) < 2 or len(set(indices)) != len(indices):
    raise ConfigError(f"--classes={','.join(map(str, classes))}: the classifier scorer needs "
                      "two or more different classes (e.g. --classes=horse,bird)")
  if not np.isfinite(disc_weight) or disc_weight < 0:
    raise ConfigError(f"--scorer_option disc_weight={disc_weight}: must be a number >= 0")
  generated = _generated_image_shape(run)
  if generated is not None and generated != tuple(classifier.image_shape):
    raise ConfigError(f"the run generates images of shape {generated} (H, W, C); the "
                      f"classifier {classifier.workdir} takes {tuple(classifier.image_shape)}")
  names = [classifier.labels[i] for i in indices]
  chosen = jnp.asarray(indices)
  k = len(indices)
  discriminators = None
  if disc_weight > 0:
    require(run.family, ScoresWithDiscriminators,
            "--scorer_option disc_weight > 0 (the discriminators' log-probability)",
            run.config.family)
    discriminators = _discriminator_scorer(run, {}, single=False)

  def parts(params: PyTree, images: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    probs = sum(member.class_probabilities(state, images)
                for member, state in zip(members, params["classifier"])) / len(members)
    probs = probs[:, chosen]
    pegasus = k * jnp.min(probs, axis=-1)
    log_p_real = (discriminators.fn(params["discriminators"], images)
                  if discriminators is not None else None)
    return probs, pegasus, log_p_real

  def fn(params: PyTree, images: jax.Array) -> jax.Array:
    _, pegasus, log_p_real = parts(params, images)
    return pegasus if log_p_real is None else pegasus + disc_weight * log_p_real

  def details(params: PyTree, images: jax.Array) -> dict[str, jax.Array]:
    probs, pegasus, log_p_real = parts(params, images)
    out = {f"p/{name}": probs[:, j] for j, name in enumerate(names)}
    out["pegasus"] = pegasus
    if log_p_real is not None:
      out["log_p_real"] = log_p_real
    return out

  params = {"classifier": tuple(member.state for member in members)}
  description = f"{k} * min(" + ", ".join(f"p_{name}" for name in names) + ")"
  if len(members) > 1:
    description += f", p the mean of {len(members)} classifiers"
  if discriminators is not None:
    params["discriminators"] = run.state
    description += f" + {disc_weight:g} * ({discriminators.description})"
  return Scorer(name="classifier", fn=fn, params=params, details=details,
                description=f"{description}; " + "; ".join(
                    f"classifier {member.workdir} step {member.step}, temperature "
                    f"{member.temperature:.4g}" for member in members))


def _classifier_scorer_from_options(run: Any, options: Mapping[str, str]) -> Scorer:
  unknown = sorted(set(options) - set(CLASSIFIER_OPTIONS))
  if unknown:
    raise ConfigError(f"--scorer=classifier: unknown option(s) {unknown}; valid: "
                      f"{list(CLASSIFIER_OPTIONS)}")
  if not options.get("classifier"):
    raise ConfigError("--scorer=classifier needs --classifier=CLASSIFIER_WORKDIR (a "
                      "configs/classifier.py run)")
  classes = [c.strip() for c in options.get("classes", "").split(",") if c.strip()]
  if not classes:
    raise ConfigError("--scorer=classifier needs --classes, e.g. --classes=horse,bird")
  which = options.get("classifier_checkpoint", "best")
  if which not in ("best", "latest"):
    raise ConfigError(f"classifier_checkpoint={which!r}: use 'best' or 'latest'")
  try:
    disc_weight = float(options.get("disc_weight", 0.0))
  except ValueError:
    raise ConfigError(f"--scorer_option disc_weight={options['disc_weight']!r}: not a "
                      "number") from None
  classifiers = [cm.load_classifier(path, prefer_best=which == "best")
                 for path in classifier_workdirs(options["classifier"])]
  return classifier_scorer(run, classifiers, classes, disc_weight)


_SCORERS: dict[str, ScorerType] = registry.by_name((
    ScorerType("discriminators", lambda run, options: _discriminator_scorer(run, options, False)),
    ScorerType("discriminator", lambda run, options: _discriminator_scorer(run, options, True)),
    ScorerType("classifier", _classifier_scorer_from_options),
))


# -- scoring many images --------------------------------------------------------------------
def score_images(scorer: Scorer, images: np.ndarray, batch_size: int = 256
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Scores (N,) and named details of host images (uint8 [0, 255] or float [-1, 1]).

  One compiled program: the last batch is padded to `batch_size` and the padding dropped.
  """
  if images.dtype == np.uint8:
    images = images.astype(np.float32) / 127.5 - 1.0
  batch_size = min(batch_size, len(images))

  @jax.jit
  def both(params: PyTree, batch: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    return scorer.fn(params, batch), (scorer.details(params, batch) if scorer.details else {})

  scores, details = [], []
  for start in range(0, len(images), batch_size):
    batch = np.asarray(images[start:start + batch_size], np.float32)
    valid = len(batch)
    if valid < batch_size:
      batch = np.concatenate([batch, np.zeros((batch_size - valid,) + batch.shape[1:],
                                              np.float32)])
    s, d = both(scorer.params, batch)
    scores.append(np.asarray(s)[:valid])
    details.append({name: np.asarray(value)[:valid] for name, value in d.items()})
  return (np.concatenate(scores),
          {name: np.concatenate([d[name] for d in details]) for name in details[0]})


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
  """Positions of the k highest scores, best first; equal scores keep their order of drawing."""
  scores = np.asarray(scores)
  if not 1 <= k <= len(scores):
    raise ConfigError(f"cannot keep the best {k} of {len(scores)} scores")
  return np.argsort(-scores, kind="stable")[:k]
