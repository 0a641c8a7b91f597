"""Does translation keep the digit? (`config.evals.NAME = dict(type='label_preservation')`)

For a run that `Translates` between domains A and B, the label preservation rate of a -> b is
the share of labelled domain-A images whose translation G_ab(a) a classifier of domain B reads
as a's own label; b -> a likewise with a classifier of domain A. A translation that only paints
the style of the other domain scores what that classifier scores on real images of its domain
(logged beside it as eval/classifier_accuracy_<domain>); one that turns a 3 into an 8 scores
less; 0.1 is chance for ten digits.

Options: `classifier_b` and `classifier_a` are classifier runs (configs/classifier.py:mnist,
:mnist_colour) trained on the target domain of a -> b and of b -> a; a direction whose
classifier is '' is skipped (MNIST <-> SVHN here has no SVHN classifier), but at least one must
be given. The labelled images come from `data.load_images` with each domain's own data settings
(source, size, channels, transform) on `split` (default 'test', unseen in training), the classes
being the classifier's labels; `num_images` of them, the same subset at every evaluation.
Translations are quantised to uint8 first, so the classifier judges what a saved picture shows.
Scalars: eval/label_preservation_a_to_b, eval/label_preservation_b_to_a and the two
eval/classifier_accuracy_<target>.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from pegasus_jax import data, imaging
from pegasus_jax.config import checks
from pegasus_jax.data import paired
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.families.base import Translates, require

NAME = "label_preservation"  # config.evals.<entry>.type
OPTIONS = {"classifier_a": "", "classifier_b": "", "split": "test", "num_images": 1_000}
CHECKS = {"classifier_a": checks.string, "classifier_b": checks.string,
          "split": checks.non_empty_str, "num_images": checks.positive_int}
SUBSET_SEED = 0  # which num_images of the split are used: fixed, so runs compare
TRANSLATE_BATCH = 250  # images per jitted translation call (fixed shape: one compile)

DIRECTIONS = (("a_to_b", "a", "b", "classifier_b"), ("b_to_a", "b", "a", "classifier_a"))


@dataclasses.dataclass
class LabelledImages:
  """float32 images in [-1, 1] and the classifier output index of each one's label."""

  images: np.ndarray
  labels: np.ndarray


def labelled_images(domain_config: ml_collections.ConfigDict, classes: tuple[str, ...],
                    split: str, num_images: int) -> LabelledImages:
  """`num_images` images of `classes` from the domain's `split`, a seeded subset; label = class
  position in `classes` (the classifier's output order)."""
  config = ml_collections.ConfigDict(domain_config.to_dict())
  config.data.split = split
  config.data.classes = tuple(classes)
  loaded = data.load_images(config)  # every process reads the whole split
  images = np.concatenate(loaded.images)
  labels = np.concatenate([np.full(len(x), k, np.int32) for k, x in enumerate(loaded.images)])
  order = np.random.default_rng(SUBSET_SEED).permutation(len(images))[:num_images]
  return LabelledImages(images[order].astype(np.float32) / 127.5 - 1.0, labels[order])


def _translate_all(translate: Callable, state: Any, images: np.ndarray, direction: str
                   ) -> np.ndarray:
  """Translations of every image, TRANSLATE_BATCH at a time (the last chunk padded), as uint8."""
  out = []
  for start in range(0, len(images), TRANSLATE_BATCH):
    chunk = images[start:start + TRANSLATE_BATCH]
    valid = len(chunk)
    if valid < TRANSLATE_BATCH:
      chunk = np.concatenate([chunk, np.zeros((TRANSLATE_BATCH - valid,) + chunk.shape[1:],
                                              chunk.dtype)])
    out.append(imaging.to_uint8(jax.device_get(translate(state, chunk, direction=direction)))[
        :valid])
  return np.concatenate(out)


def _accuracy(classifier: cm.LoadedClassifier, images: np.ndarray, labels: np.ndarray) -> float:
  logits, _ = classifier.predict(images)
  return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _field(config: ml_collections.ConfigDict, option: str) -> str:
  """'config.evals.NAME.option' for this evaluation's entry (the type's first one)."""
  names = [name for name, entry in config.evals.items()
           if entry.get("type") == "label_preservation"]
  return f"config.evals.{names[0] if names else 'label_preservation'}.{option}"


def create(config: ml_collections.ConfigDict, options: dict[str, Any], family: Any,
           info: DataInfo) -> Callable[[Any], dict[str, float]]:
  require(family, Translates, "the 'label_preservation' evaluation", config.family)
  if not options["classifier_a"] and not options["classifier_b"]:
    raise ConfigError(f"{_field(config, 'classifier_b')} and {_field(config, 'classifier_a')} "
                      "are both empty: the 'label_preservation' evaluation needs a classifier "
                      "run of a target domain (classifier_b for a -> b, e.g. a run of "
                      "configs/classifier.py:mnist_colour; classifier_a for b -> a, "
                      "configs/classifier.py:mnist)")
  domains = dict(zip(("a", "b"), paired.domain_configs(config)))
  checked = []
  for direction, source, target, option in DIRECTIONS:
    if not options[option]:
      continue
    classifier = cm.load_classifier(options[option], prefer_best=True)
    if tuple(classifier.image_shape) != tuple(info.example_shapes[target]):
      raise ConfigError(
          f"{_field(config, option)}={options[option]!r} classifies "
          f"{classifier.image_shape} images, but domain {target!r} has "
          f"{tuple(info.example_shapes[target])}: train it on domain {target}'s data settings")
    split, count = options["split"], options["num_images"]
    sources = labelled_images(domains[source], classifier.labels, split, count)
    targets = labelled_images(domains[target], classifier.labels, split, count)
    checked.append((direction, target, classifier, sources,
                    _accuracy(classifier, targets.images, targets.labels)))
  translate = jax.jit(family.translate, static_argnames="direction")

  def evaluate(state: Any) -> dict[str, float]:
    out = {}
    for direction, target, classifier, sources, target_accuracy in checked:
      translated = _translate_all(translate, state, sources.images, direction)
      translated = translated.astype(np.float32) / 127.5 - 1.0
      out[f"eval/label_preservation_{direction}"] = _accuracy(classifier, translated,
                                                              sources.labels)
      out[f"eval/classifier_accuracy_{target}"] = target_accuracy
    return out

  return evaluate
