"""Held-out accuracy and calibration of a classifier run (`config.evals.heldout`, type 'accuracy').

The held-out split (e.g. 'train[45000:]' of the training set, never a test split) is read once,
whole, by every process, with the run's own data settings. Scalars: eval/accuracy, eval/loss,
per-class eval/accuracy/<label>, and the calibration of `evaluation.calibration`:
eval/temperature (the T that scores divide the logits by), eval/ece (T = 1), eval/ece_calibrated
and eval/nll_calibrated (cross-fitted). They are saved with the checkpoint's evaluation, where
`classifier_metrics.load_classifier` reads the temperature back.
"""

from __future__ import annotations

from typing import Any, Callable

import ml_collections
import numpy as np

from pegasus_jax import data
from pegasus_jax.config import checks
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import calibration
from pegasus_jax.families.base import Classifies, require

NAME = "accuracy"  # config.evals.<entry>.type
OPTIONS = {"split": "train[45000:]"}
CHECKS = {"split": checks.non_empty_str}


def create(config: ml_collections.ConfigDict, options: dict[str, Any], family: Any,
           info: DataInfo) -> Callable[[Any], dict[str, float]]:
  require(family, Classifies, "the 'accuracy' evaluation", config.family)
  eval_config = ml_collections.ConfigDict(config.to_dict())
  eval_config.data.split = options["split"]
  held_out = data.load_images(eval_config)  # every process evaluates the whole split
  if tuple(held_out.labels) != tuple(info.labels):
    raise ConfigError(f"held-out labels {held_out.labels} differ from the training labels "
                      f"{info.labels}")
  images = np.concatenate(held_out.images).astype(np.float32) / 127.5 - 1.0
  labels = np.concatenate([np.full(len(x), k) for k, x in enumerate(held_out.images)])

  def evaluate(state: Any) -> dict[str, float]:
    logits, _ = family.predict(state, images)
    correct = np.argmax(logits, -1) == labels
    report = calibration.calibration_report(logits, labels)
    out = {"eval/accuracy": float(np.mean(correct)), "eval/loss": report.pop("nll"),
           "eval/num_images": float(len(labels))}
    out.update({f"eval/{name}": value for name, value in report.items()})
    for k, label in enumerate(info.labels):
      out[f"eval/accuracy/{label}"] = float(np.mean(correct[labels == k]))
    return out

  return evaluate
