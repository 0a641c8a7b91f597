"""Classifier metrics of generated samples during training (type 'classifier_metrics').

Fixed latents (the 'eval' RNG stream of the seed), samples quantised to uint8 like saved ones,
scored by a classifier run (`options['classifier']`, a configs/classifier.py workdir): pegasus
score and rate, classifier IS, FCD per class and union, predicted class shares, logged as
'eval/...'. The classifier and the real-image statistics are loaded once, here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import ml_collections

from pegasus_jax.config import checks
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.families.base import GeneratesFromPrior, require
from pegasus_jax.generation import sampling
from pegasus_jax.run import runtime

NAME = "classifier_metrics"  # config.evals.<entry>.type
OPTIONS = {"classifier": "", "num_samples": 1_000, "split": "train"}
CHECKS = {"classifier": checks.string, "num_samples": checks.positive_int,
          "split": checks.non_empty_str}
ENABLED_BY = "classifier"  # '' = off


def split_class_labels(labels: Sequence[str]) -> list[str]:
  """A GAN's class labels as classifier classes: 'horse+bird' (a union) -> horse, bird."""
  out: list[str] = []
  for label in labels:
    for part in str(label).split("+"):
      if part not in out:
        out.append(part)
  return out


def create(config: ml_collections.ConfigDict, options: dict[str, Any], family: Any,
           info: DataInfo) -> Callable[[Any], dict[str, float]]:
  require(family, GeneratesFromPrior, "the 'classifier_metrics' evaluation", config.family)
  classifier = cm.load_classifier(options["classifier"], prefer_best=True)
  classes = split_class_labels(info.labels)
  for name in classes:
    classifier.class_index(name)
  reference, _ = cm.reference_statistics(classifier, classes, split=options["split"],
                                         data_dir=config.data.data_dir)
  latents = family.latents(runtime.stream_key(config.seed, "eval"), options["num_samples"])
  generate = jax.jit(family.generate)

  def evaluate(state: Any) -> dict[str, float]:
    images = sampling.images_from_latents(generate, state, latents, 500)
    return cm.scalars(cm.evaluate_samples(classifier, images, classes, reference))

  return evaluate
