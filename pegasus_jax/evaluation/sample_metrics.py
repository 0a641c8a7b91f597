"""One set of generated samples scored the way `python -m pegasus_jax.evaluate` reports it.

The classifier's metrics (`classifier_metrics`), optionally FID, IS and KID under a chosen FID
protocol (`inception`, `gan_metrics`; the real images' features cached under a key that covers
everything they depend on) and the panel picture (`panel`). The command's flags and output
formats are described in `pegasus_jax.cli.evaluate`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Sequence

import numpy as np

from pegasus_jax import imaging
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.evaluation import fid_preprocessing
from pegasus_jax.evaluation import inception
from pegasus_jax.evaluation import fid_weights
from pegasus_jax.evaluation import panel
from pegasus_jax.run import paths


def load_samples(path: str) -> np.ndarray:
  """The 'images' array of an .npz (or the only array in it), local or on object storage."""
  arrays = paths.load_npz(path)
  if "images" in arrays:
    return arrays["images"]
  if len(arrays) == 1:
    return next(iter(arrays.values()))
  raise cm.SampleError(f"{path} has arrays {sorted(arrays)}; expected one named 'images'")


def load_classifier(workdir: str, which: str = "best") -> cm.LoadedClassifier:
  """The classifier run's best checkpoint (if it kept one and `which` is 'best'), else latest."""
  return cm.load_classifier(workdir, prefer_best=which == "best")


# -- Inception (optional) -----------------------------------------------------------------------
def inception_reference_path(cache_dir: str, *, data_name: str, split: str,
                             classes: Sequence[str], weights_hash: str, fid_protocol: str) -> str:
  """Where the real images' Inception features are cached.

  The key covers everything the features depend on, the FID protocol included, so features
  of one protocol are never read back as the other's; the protocol is in the name for people.
  """
  key = hashlib.sha256(json.dumps(
      {"version": cm.CACHE_VERSION, "data": data_name, "split": split, "classes": list(classes),
       "network": "fid_inception_v3_2015_12_05", "weights": weights_hash,
       "fid_protocol": fid_protocol},
      sort_keys=True).encode()).hexdigest()[:20]
  return os.path.join(cache_dir, f"inception_reference_{fid_protocol}_{key}.npz")


def inception_metrics(weights: str, images: np.ndarray, classifier: cm.LoadedClassifier,
                      classes: Sequence[str], split: str, data_dir: str | None,
                      cache_dir: str, fid_protocol: str = fid_preprocessing.DEFAULT_FID_PROTOCOL
                      ) -> dict[str, Any]:
  """FID, IS and KID of the samples against the real images of `classes` (features cached),
  with the `fid_protocol` that produced them."""
  from pegasus_jax.evaluation import gan_metrics  # pylint: disable=g-import-not-at-top
  fid_preprocessing.check_fid_protocol(fid_protocol)
  variables = fid_weights.load_inception_params(weights)
  with open(weights, "rb") as f:
    weights_hash = hashlib.sha256(f.read()).hexdigest()[:16]
  data_name = classifier.config.data.name
  path = inception_reference_path(cache_dir, data_name=data_name, split=split, classes=classes,
                                  weights_hash=weights_hash, fid_protocol=fid_protocol)
  if paths.resolve(path).exists():
    real_features = paths.load_npz(path)["features"]
  else:
    real = cm.load_real_images(data_name, classes, split, data_dir,
                               classifier.image_shape[0], classifier.image_shape[2])
    real_images = np.concatenate([real[c] for c in classes]).astype(np.float32) / 127.5 - 1
    real_features, _ = inception.inception_features_and_logits(variables, real_images,
                                                               protocol=fid_protocol)
    paths.save_npz(path, atomic=True, features=real_features)
  quantised = np.round((images + 1.0) * 127.5) / 127.5 - 1.0  # both protocols: uint8 first
  features, logits = inception.inception_features_and_logits(variables, quantised,
                                                             protocol=fid_protocol)
  fid = gan_metrics.frechet_distance(*gan_metrics.feature_statistics(features),
                                     *gan_metrics.feature_statistics(real_features))
  is_mean, is_std = gan_metrics.inception_score(logits, splits=min(10, len(logits)))
  subset = min(1000, len(features), len(real_features))
  kid_mean, kid_std = gan_metrics.kernel_inception_distance(features, real_features,
                                                            subset_size=subset)
  return {"fid": fid, "inception_score": is_mean, "inception_score_std": is_std,
          "kid": kid_mean, "kid_std": kid_std, "fid_protocol": fid_protocol}


# -- the whole evaluation -----------------------------------------------------------------------
def evaluate(images: np.ndarray, classifier: cm.LoadedClassifier, classes: Sequence[str], *,
             real_split: str = "train", data_dir: str | None = None,
             cache_dir: str | None = None, inception_weights: str | None = None,
             fid_protocol: str = fid_preprocessing.DEFAULT_FID_PROTOCOL,
             panel_path: str | None = None, panel_count: int = 8) -> dict[str, Any]:
  """Classifier metrics (+ Inception ones, under `fid_protocol`) of `images`, with cached
  real-image statistics.

  With `panel_path`, also the picture of `evaluation.panel` there; result['panel'] names the
  samples it shows (indices into `images`).
  """
  fid_preprocessing.check_fid_protocol(fid_protocol)
  images = cm.check_samples(images, classifier.image_shape)
  for name in classes:
    classifier.class_index(name)  # unknown classes fail before any real image is read
  cache_dir = cache_dir or cm.default_cache_dir(classifier)
  reference, cache = cm.reference_statistics(classifier, classes, split=real_split,
                                             data_dir=data_dir, cache_dir=cache_dir)
  predictions = cm.predict_samples(classifier, images)
  result = cm.metrics_of_predictions(classifier, predictions, classes, reference)
  result.update(cm.classifier_description(classifier), real_split=real_split,
                reference_cache=cache)
  if panel_path:
    data = panel.panel_data(predictions.probs, classifier.labels, classes,
                            cache["class_histogram"], panel_count)
    title = (f"{len(images)} samples; pegasus score {result['pegasus_score']:.3f}, rate "
             f"{result['pegasus_rate']:.3f}" if result["pegasus_score"] is not None
             else f"{len(images)} samples")
    panel.write_panel(panel_path, imaging.to_uint8(images), data, title)
    result["panel"] = {"path": panel_path, "top": data.top.tolist(),
                       "top_scores": data.scores[data.top].tolist(),
                       "bottom": data.bottom.tolist(),
                       "bottom_scores": data.scores[data.bottom].tolist()}
  if inception_weights:
    result.update(inception_metrics(inception_weights, images, classifier, classes, real_split,
                                    data_dir if data_dir is not None
                                    else classifier.config.data.data_dir, cache_dir,
                                    fid_protocol))
  return result


def panel_path_for(json_path: str) -> str:
  """Where the panel goes: beside the JSON, OUT.json -> OUT.png."""
  return os.path.splitext(json_path)[0] + ".png"
