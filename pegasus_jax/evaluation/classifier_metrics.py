"""Metrics from a CIFAR classifier trained by this codebase (family 'classifier').

Why a classifier of our own: the pegasus question is "does one image look like a horse AND a
bird?", which needs the class posteriors p(y|x) of a network that knows those classes. From its
softmax and its penultimate (pooled) features:

- classifier IS: exp(E_x KL(p(y|x) || p(y))), 10 splits (`gan_metrics.inception_score` on the
  probabilities). Between 1 and K; K for confident, class-balanced predictions. On a different
  scale from the Inception-v3 IS (1008 classes), so the two are never compared.
- FCD: the Frechet distance in the classifier's feature space between the samples and the real
  images of each requested class, and of their union (`gan_metrics.frechet_distance`).
- pegasus score for a class pair (a, b): per sample 2 * min(p_a, p_b) (1 when the classifier
  splits its belief evenly between the two, 0 when it is sure of one or of neither), averaged;
  pegasus rate: the share of samples with p_a + p_b >= 0.8 and min(p_a, p_b) >= 0.25.
- class histogram: how many samples the classifier assigns (argmax) to each of its classes.

The probabilities are calibrated: softmax(logits / T), with the temperature T that the
classifier's held-out evaluation fitted (`evaluation.calibration`, saved with the checkpoint's
evaluation). A checkpoint without one is used with T = 1, and says so. T changes no argmax and
no feature, so the class histogram and FCD do not depend on it. `LoadedClassifier.predict` /
`probabilities` are the host route; `class_probabilities` is the same in JAX (jittable,
differentiable: the latent tools' classifier scorer).

Real-image reference statistics cost a pass over thousands of images, so they are cached on disk,
keyed by data set, split, classes, the network config and a hash of its weights. The cache may
live on object storage (beside a classifier trained into gs://), through `pegasus_jax.run.paths`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping, Sequence

import jax
import ml_collections
import numpy as np
import scipy.special
from absl import logging

from pegasus_jax.errors import ConfigError, UserError
from pegasus_jax.evaluation import gan_metrics
from pegasus_jax.families.base import Classifies, require
from pegasus_jax.families.frozen_classifier import variables_sha256
from pegasus_jax.run import paths, restore

PEGASUS_SUM = 0.8  # p_a + p_b at least this: the image is (mostly) one of the two classes ...
PEGASUS_MIN = 0.25  # ... and each gets at least this: it is not just one of them
CACHE_VERSION = 3  # bump when the cached statistics change meaning (3: + real class histogram)
UNION = "union"


class SampleError(UserError, ValueError):
  """A samples array the evaluation refuses (dtype, value range, shape or channels)."""


# -- pure metrics -----------------------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
  """Class probabilities in float64 (rows sum to one to ~1e-15)."""
  return scipy.special.softmax(np.asarray(logits, np.float64), axis=-1)


def classifier_inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
  """Mean and std over splits of exp(E[KL(p(y|x) || p(y))]); fewer splits for < 10 samples."""
  probs = np.asarray(probs, np.float64)
  return gan_metrics.inception_score(probs, splits=min(splits, len(probs)), from_logits=False)


def pegasus_per_sample(probs: np.ndarray, indices: Sequence[int]) -> np.ndarray:
  """K * min over the K chosen classes of p_class, per sample: 1 for an even split, in [0, 1].

  For two classes 2 * min(p_a, p_b); the classifier scorer (`pegasus_jax.generation.scoring`)
  computes the same in JAX.
  """
  probs = np.asarray(probs, np.float64)
  return len(indices) * np.min(probs[:, list(indices)], axis=1)


def pegasus_scores(probs: np.ndarray, a: int, b: int) -> dict[str, Any]:
  """Per-sample 2 * min(p_a, p_b), its mean (pegasus_score) and the pegasus_rate."""
  probs = np.asarray(probs, np.float64)
  p_a, p_b = probs[:, a], probs[:, b]
  per_sample = pegasus_per_sample(probs, (a, b))
  is_pegasus = (p_a + p_b >= PEGASUS_SUM) & (np.minimum(p_a, p_b) >= PEGASUS_MIN)
  return {"pegasus_score": float(per_sample.mean()), "pegasus_rate": float(is_pegasus.mean()),
          "per_sample": per_sample}


def class_histogram(probs: np.ndarray, labels: Sequence[str]) -> dict[str, int]:
  """Argmax counts per class label (every label present, zeros included)."""
  counts = np.bincount(np.argmax(probs, axis=-1), minlength=len(labels))
  return {label: int(count) for label, count in zip(labels, counts)}


def frechet_to_reference(features: np.ndarray, reference: tuple[np.ndarray, np.ndarray]
                         ) -> float:
  """Frechet distance between the features' Gaussian and a reference (mu, sigma).

  Clipped at 0: identical statistics give a rounding-level (possibly negative) value.
  """
  mu, sigma = gan_metrics.feature_statistics(features)
  return max(0.0, gan_metrics.frechet_distance(mu, sigma, *reference))


# -- the classifier -----------------------------------------------------------------------------
@dataclasses.dataclass
class LoadedClassifier:
  """A trained classifier run, calibrated: `predict` gives logits already divided by the
  held-out temperature (so any softmax of them is calibrated) and penultimate features;
  `probabilities` gives the calibrated class probabilities."""

  workdir: str
  labels: tuple[str, ...]
  config: ml_collections.ConfigDict
  family: Any
  state: Any
  step: int
  image_shape: tuple[int, int, int]
  weights_hash: str
  #: The held-out temperature of the checkpoint's evaluation; 1 when it has none.
  temperature: float = 1.0
  #: The checkpoint's held-out evaluation ('eval/accuracy', 'eval/ece', ...); {} when none.
  heldout: Mapping[str, float] = dataclasses.field(default_factory=dict)

  @property
  def calibrated(self) -> bool:
    """Whether the checkpoint carried a fitted temperature (else T = 1 is used)."""
    return "eval/temperature" in self.heldout

  def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated logits (network logits / temperature), (N, K), and features (N, D) of float
    images in [-1, 1]. The argmax and the features are the network's own."""
    logits, features = self.family.predict(self.state, images)
    return np.asarray(logits, np.float64) / self.temperature, features

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """Calibrated class probabilities (N, K), float64, of float images in [-1, 1]."""
    logits, _ = self.predict(images)
    return softmax(logits)

  def class_probabilities(self, state: Any, images: jax.Array) -> jax.Array:
    """Calibrated p(y|x), (N, K), of images in [-1, 1] as a pure JAX function: jittable,
    differentiable in the images.

    The same probabilities as `probabilities(images)` (in float32). `state` is this
    classifier's `state`, passed in rather than read from `self` so that jitted callers take
    the weights as an argument instead of baking them into the program as constants.
    """
    logits, _ = self.family.apply(state, images)
    return jax.nn.softmax(logits / self.temperature, axis=-1)

  def class_index(self, name: str) -> int:
    """The output index of class `name` (a label, or an id among the labels)."""
    if name in self.labels:
      return self.labels.index(name)
    if name.isdigit() and int(name) < len(self.labels):
      return int(name)
    raise ConfigError(f"class {name!r} is not one of the classifier's classes "
                     f"{list(self.labels)} (classifier: {self.workdir})")


def weights_hash(state: Any) -> str:
  """SHA-256 (16 hex digits) of the parameters and batch statistics: the cache key's network."""
  return variables_sha256({"params": state.params, "batch_stats": state.batch_stats})[:16]


def load_classifier(workdir: str, step: int | None = None, *, prefer_best: bool = False
                    ) -> LoadedClassifier:
  """A classifier run from its workdir: the newest checkpoint, `step`, or the best one kept."""
  run = restore.load_run(workdir, step, prefer_best=prefer_best)
  require(run.family, Classifies, f"the classifier metrics (classifier {run.workdir})",
          run.config.family)
  heldout = {name: float(value) for name, value in (run.meta.get("evaluation") or {}).items()}
  temperature = heldout.get("eval/temperature", 1.0)
  if "eval/temperature" not in heldout:
    logging.warning("classifier %s step %d has no held-out temperature in its checkpoint (its "
                    "evaluation did not run at that step, or predates calibration): its "
                    "probabilities are used uncalibrated (T = 1)", run.workdir, run.step)
  if not (np.isfinite(temperature) and temperature > 0):
    raise UserError(f"classifier {run.workdir} step {run.step}: its checkpoint's "
                    f"eval/temperature={temperature} is not a positive number")
  return LoadedClassifier(workdir=run.workdir, labels=tuple(run.info.labels), config=run.config,
                          family=run.family, state=run.state, step=run.step,
                          image_shape=tuple(run.info.example_shapes["image"]),
                          weights_hash=weights_hash(run.state), temperature=temperature,
                          heldout=heldout)


# -- samples ------------------------------------------------------------------------------------
def check_samples(images: Any, image_shape: tuple[int, int, int] | None = None) -> np.ndarray:
  """float32 images in [-1, 1] from uint8 [0, 255] or float [-1, 1]; anything else: SampleError."""
  images = np.asarray(images)
  if images.ndim != 4:
    raise SampleError(f"samples must be a 4-D array (N, H, W, C); got shape {images.shape}")
  if image_shape is not None and images.shape[1:] != tuple(image_shape):
    raise SampleError(f"samples have shape {images.shape[1:]} per image; the classifier takes "
                      f"{tuple(image_shape)} (H, W, C)")
  if len(images) < 2:
    raise SampleError(f"need at least 2 samples (covariances for FCD); got {len(images)}")
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 127.5 - 1.0
  if not np.issubdtype(images.dtype, np.floating):
    raise SampleError(f"samples must be uint8 in [0, 255] or float in [-1, 1]; got dtype "
                      f"{images.dtype}")
  if not np.all(np.isfinite(images)):
    raise SampleError("samples contain NaN or Inf")
  low, high = float(images.min()), float(images.max())
  if low < -1.0 - 1e-3 or high > 1.0 + 1e-3:
    raise SampleError(f"float samples must lie in [-1, 1]; got values in [{low:.4g}, "
                      f"{high:.4g}] (uint8 images: save them as uint8)")
  return np.clip(images.astype(np.float32), -1.0, 1.0)


# -- real-image reference ---------------------------------------------------------------------
def load_real_images(data_name: str, classes: Sequence[str], split: str,
                     data_dir: str | None, image_size: int, channels: int
                     ) -> dict[str, np.ndarray]:
  """uint8 real images per class (the whole split, one process); tests replace this."""
  from pegasus_jax.data.tfds_source import load_class_images  # pylint: disable=g-import-not-at-top
  loaded = load_class_images(data_name, tuple(classes), split=split, data_dir=data_dir,
                             image_size=image_size, channels=channels)
  return dict(zip(loaded.labels, loaded.images))


def default_cache_dir(classifier: LoadedClassifier) -> str:
  """Beside the classifier's checkpoints when writable, else ~/.cache/pegasus_jax.

  On object storage there is no cheap writability check: the cache goes beside the run, and
  a failed write says why.
  """
  preferred = os.path.join(classifier.workdir, "eval_cache")
  if paths.is_object_storage(preferred):
    return preferred
  try:
    os.makedirs(preferred, exist_ok=True)
    if os.access(preferred, os.W_OK):
      return preferred
  except OSError:
    pass
  return os.path.join(os.path.expanduser("~"), ".cache", "pegasus_jax")


def reference_key(classifier: LoadedClassifier, classes: Sequence[str], split: str,
                  data_name: str) -> str:
  """What the cached statistics depend on: data set, split, classes, network and its weights."""
  description = {"version": CACHE_VERSION, "data": data_name, "split": split,
                 "classes": list(classes), "network": "classifier",
                 "model": classifier.config.model.to_dict(),
                 "image_shape": list(classifier.image_shape),
                 "labels": list(classifier.labels), "weights": classifier.weights_hash}
  return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]


def reference_statistics(classifier: LoadedClassifier, classes: Sequence[str], *,
                         split: str = "train", data_dir: str | None = None,
                         data_name: str | None = None, cache_dir: str | None = None
                         ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
  """Real-image feature (mu, sigma) per class and for their union, from the cache if present.

  Returns the statistics and {'path', 'hit', 'num_images', 'class_histogram'} about the cache
  entry; 'class_histogram' counts the real images of all `classes` by the classifier's argmax
  (what a sample histogram is compared with; a temperature does not change an argmax).
  """
  data_name = data_name or classifier.config.data.name
  data_dir = data_dir if data_dir is not None else classifier.config.data.data_dir
  cache_dir = cache_dir or default_cache_dir(classifier)
  key = reference_key(classifier, classes, split, data_name)
  path = os.path.join(cache_dir, f"fcd_reference_{key}.npz")
  names = [*classes, UNION]
  if paths.resolve(path).exists():
    cached = paths.load_npz(path)
    stats = {name: (cached[f"{name}/mu"], cached[f"{name}/sigma"]) for name in names}
    histogram = dict(zip(classifier.labels, cached["class_histogram"].tolist()))
    return stats, {"path": path, "hit": True, "num_images": cached["num_images"].tolist(),
                   "class_histogram": histogram}
  image_size, _, channels = classifier.image_shape
  real = load_real_images(data_name, classes, split, data_dir, image_size, channels)
  features, logits = {}, []
  for name in classes:
    class_logits, features[name] = classifier.predict(real[name].astype(np.float32) / 127.5 - 1)
    logits.append(class_logits)
  features[UNION] = np.concatenate([features[name] for name in classes])
  histogram = class_histogram(np.concatenate(logits), classifier.labels)
  stats = {name: gan_metrics.feature_statistics(features[name]) for name in names}
  counts = [len(features[name]) for name in names]
  arrays = {f"{name}/{part}": value for name, (mu, sigma) in stats.items()
            for part, value in (("mu", mu), ("sigma", sigma))}
  # atomic: a reader never sees half a file
  paths.save_npz(path, atomic=True, num_images=np.asarray(counts),
                 class_histogram=np.asarray(list(histogram.values())), **arrays)
  logging.info("cached real-image classifier statistics (%s, %s, %s) in %s", data_name, split,
               list(classes), path)
  return stats, {"path": path, "hit": False, "num_images": counts,
                 "class_histogram": histogram}


# -- everything together ------------------------------------------------------------------------
@dataclasses.dataclass
class Predictions:
  """What the classifier says about each sample: (N, K) probabilities, (N, D) features."""

  probs: np.ndarray
  features: np.ndarray


def predict_samples(classifier: LoadedClassifier, images: np.ndarray) -> Predictions:
  """The classifier's (calibrated) probabilities and features of uint8 or [-1, 1] images."""
  images = check_samples(images, classifier.image_shape)
  logits, features = classifier.predict(images)
  return Predictions(probs=softmax(logits), features=features)  # calibrated logits


def metrics_of_predictions(classifier: LoadedClassifier, predictions: Predictions,
                           classes: Sequence[str],
                           reference: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
                           ) -> dict[str, Any]:
  """All classifier metrics of the predicted samples for the requested classes.

  pegasus_score / pegasus_rate need exactly two classes (None otherwise); FCD needs `reference`.
  """
  indices = [classifier.class_index(name) for name in classes]
  probs, features = predictions.probs, predictions.features
  is_mean, is_std = classifier_inception_score(probs)
  out: dict[str, Any] = {
      "num_samples": int(len(probs)), "classes": list(classes),
      "classifier_is": is_mean, "classifier_is_std": is_std,
      "class_histogram": class_histogram(probs, classifier.labels),
      "pegasus_score": None, "pegasus_rate": None,
      "mean_probability": {classifier.labels[i]: float(probs[:, i].mean()) for i in indices},
  }
  if len(indices) == 2:
    pegasus = pegasus_scores(probs, *indices)
    out["pegasus_score"], out["pegasus_rate"] = pegasus["pegasus_score"], pegasus["pegasus_rate"]
  if reference is not None:
    out["fcd"] = {name: frechet_to_reference(features, reference[name])
                  for name in [*classes, UNION]}
  return out


def evaluate_samples(classifier: LoadedClassifier, images: np.ndarray, classes: Sequence[str],
                     reference: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
                     ) -> dict[str, Any]:
  """All classifier metrics of `images` (uint8 or [-1, 1] float) for the requested classes."""
  for name in classes:
    classifier.class_index(name)  # an unknown class fails before the forward pass
  return metrics_of_predictions(classifier, predict_samples(classifier, images), classes,
                                reference)


def classifier_description(classifier: LoadedClassifier) -> dict[str, Any]:
  """Which classifier scored, and how well it is calibrated on its held-out split (for JSON)."""
  heldout = classifier.heldout
  return {"classifier_workdir": classifier.workdir, "classifier_step": classifier.step,
          "classifier_weights": classifier.weights_hash,
          "classifier_temperature": classifier.temperature,
          "classifier_calibrated": classifier.calibrated,
          "classifier_heldout_accuracy": heldout.get("eval/accuracy"),
          "classifier_ece": heldout.get("eval/ece"),
          "classifier_ece_calibrated": heldout.get("eval/ece_calibrated")}


def scalars(result: Mapping[str, Any], prefix: str = "eval/") -> dict[str, float]:
  """The numbers of `evaluate_samples` as flat scalars for TensorBoard ('eval/fcd/horse', ...)."""
  flat = {}
  for name in ("classifier_is", "classifier_is_std", "pegasus_score", "pegasus_rate"):
    if result.get(name) is not None:
      flat[prefix + name] = float(result[name])
  for group in ("fcd", "mean_probability"):
    for name, value in (result.get(group) or {}).items():
      flat[f"{prefix}{group}/{name}"] = float(value)
  total = max(1, sum(result["class_histogram"].values()))
  for name, count in result["class_histogram"].items():
    flat[f"{prefix}predicted_share/{name}"] = count / total
  return flat
