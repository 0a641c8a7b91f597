r"""Score generated images with the CIFAR classifier (and optionally the FID Inception-v3).

  python -m pegasus_jax.evaluate --samples=FILE.npz --classifier=CLASSIFIER_WORKDIR \
      --classes=horse,bird --json=OUT.json
  python -m pegasus_jax.evaluate --workdir=GAN_WORKDIR --num=1000 --seed=0 \
      --classifier=CLASSIFIER_WORKDIR [--inception_weights=pt_inception.npz] \
      [--fid_protocol=pytorch_fid|tf_original]

`--samples` reads key `images` of an .npz (what `pegasus_jax.sample` writes): uint8 in
[0, 255] or float in [-1, 1], (N, H, W, C) matching the classifier; anything else is refused.
`--workdir` draws `--num` samples from a GAN checkpoint first (classes default to its classes).
Prints a table and writes JSON: num_samples, classifier_is(_std), fcd per class and union,
pegasus_score, pegasus_rate, class_histogram, and with Inception weights fid, inception_score,
kid (against the real images of the requested classes) and fid_protocol, the preprocessing that
produced them: pytorch_fid (default; pytorch-fid's resize) or tf_original (the original TF FID
code's TF1 resize and (x - 128) / 128 scaling). Real-image statistics are cached, per protocol.
Probabilities are calibrated by the classifier's held-out temperature; the JSON records it
(classifier_temperature) with the classifier's held-out accuracy and ECE before and after it
(classifier_heldout_accuracy, classifier_ece, classifier_ece_calibrated).
Beside the JSON (OUT.json -> OUT.png, unless --nopanel) a picture (`evaluation.panel`): the
8 highest and 8 lowest pegasus-scored samples with their probabilities of the classes, and the
samples' class shares against the real images'; the JSON's 'panel' says which samples.
Samples, workdirs, the cache and the JSON may be local or on object storage (gs://); the
Inception weights file is read locally.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Sequence

import numpy as np
from absl import app, flags, logging

from pegasus_jax import cli_setup, imaging, paths, restore, sampling
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.evaluation import inception
from pegasus_jax.evaluation import panel
from pegasus_jax.evaluators.sample_quality import split_class_labels

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """Only when run as a program: pegasus_jax.sample and .main define some of the same names."""
  flags.DEFINE_string("samples", None, ".npz with key 'images' (uint8 or float in [-1, 1]).")
  flags.DEFINE_string("workdir", None, "GAN workdir to sample from instead of --samples.")
  flags.DEFINE_integer("num", 1000, "With --workdir: how many samples.")
  flags.DEFINE_integer("seed", 0, "With --workdir: seed of the latent vectors.")
  flags.DEFINE_integer("step", None, "With --workdir: checkpoint step (default: the newest).")
  flags.DEFINE_string("classifier", None, "Workdir of a configs/classifier.py run.")
  flags.DEFINE_enum("classifier_checkpoint", "best", ["best", "latest"],
                    "Which classifier checkpoint: the best by validation accuracy (when the "
                    "run kept one) or the latest.")
  flags.DEFINE_list("classes", None, "Classes to compare with, e.g. horse,bird (two give the "
                    "pegasus score). Default with --workdir: the GAN's classes.")
  flags.DEFINE_string("real_split", "train", "TFDS split of the real reference images.")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the classifier's).")
  flags.DEFINE_string("cache_dir", None, "Reference-statistics cache (default: "
                      "CLASSIFIER/eval_cache, else ~/.cache/pegasus_jax).")
  flags.DEFINE_string("inception_weights", None, "Converted FID Inception weights "
                      "(.npz/.pth): adds fid, inception_score, kid.")
  flags.DEFINE_string("fid_protocol", inception.DEFAULT_FID_PROTOCOL,
                      "How images are resized and scaled for the Inception metrics: "
                      "pytorch_fid (pytorch-fid, torch-style resize) or tf_original (the "
                      "original TF FID code: TF1 resize_bilinear, (x - 128) / 128).")
  flags.DEFINE_string("json", None, "Write the results here as JSON.")
  flags.DEFINE_bool("panel", True, "With --json: also write the picture JSON_STEM.png (best and "
                    "worst samples, class shares).")


# -- loading ----------------------------------------------------------------------------------
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
                      cache_dir: str, fid_protocol: str = inception.DEFAULT_FID_PROTOCOL
                      ) -> dict[str, Any]:
  """FID, IS and KID of the samples against the real images of `classes` (features cached),
  with the `fid_protocol` that produced them."""
  from pegasus_jax.evaluation import gan_metrics  # pylint: disable=g-import-not-at-top
  inception.check_fid_protocol(fid_protocol)
  variables = inception.load_inception_params(weights)
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
             fid_protocol: str = inception.DEFAULT_FID_PROTOCOL,
             panel_path: str | None = None, panel_count: int = 8) -> dict[str, Any]:
  """Classifier metrics (+ Inception ones, under `fid_protocol`) of `images`, with cached
  real-image statistics.

  With `panel_path`, also the picture of `evaluation.panel` there; result['panel'] names the
  samples it shows (indices into `images`).
  """
  inception.check_fid_protocol(fid_protocol)
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


def format_table(result: dict[str, Any]) -> str:
  """The results as aligned `name  value` lines."""
  rows = []
  for name, value in result.items():
    if isinstance(value, dict):
      rows.extend((f"{name}/{sub}", item) for sub, item in value.items()
                  if not isinstance(item, (list, tuple, dict)))
    elif not isinstance(value, (list, tuple)):
      rows.append((name, value))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {value:.4f}" if isinstance(value, float)
                   else f"{name:<{width}}  {value}" for name, value in rows)


def run_cli(*, classifier: str, samples: str | None = None, workdir: str | None = None,
            num: int = 1000, seed: int = 0, step: int | None = None,
            classes: Sequence[str] | None = None, classifier_checkpoint: str = "best",
            real_split: str = "train", data_dir: str | None = None,
            cache_dir: str | None = None, inception_weights: str | None = None,
            fid_protocol: str = inception.DEFAULT_FID_PROTOCOL,
            json_path: str | None = None, write_panel: bool = True) -> dict[str, Any]:
  """What the command line does, as a function: evaluate, print the table, write the JSON."""
  inception.check_fid_protocol(fid_protocol)
  if fid_protocol != inception.DEFAULT_FID_PROTOCOL and not inception_weights:
    logging.warning("--fid_protocol=%s has no effect without --inception_weights (it only "
                    "changes FID, IS and KID)", fid_protocol)
  if bool(samples) == bool(workdir):
    raise ConfigError("give exactly one of --samples=FILE.npz and --workdir=GAN_WORKDIR")
  if samples and not classes:
    raise ConfigError("--classes is required with --samples (e.g. --classes=horse,bird)")
  loaded = load_classifier(classifier, classifier_checkpoint)
  if workdir:
    if num < 2:
      raise ConfigError("--num must be >= 2")
    run = restore.load_run(workdir, step)
    images = sampling.generate_images(run, num, seed)
    classes = list(classes or split_class_labels(run.family.class_labels))
    source = {"gan_workdir": str(paths.resolve(workdir)), "gan_step": run.step, "seed": seed}
  else:
    images = load_samples(samples)
    source = {"samples": str(paths.resolve(samples))}
  result = evaluate(images, loaded, list(classes), real_split=real_split, data_dir=data_dir,
                    cache_dir=cache_dir, inception_weights=inception_weights,
                    fid_protocol=fid_protocol,
                    panel_path=panel_path_for(json_path) if json_path and write_panel else None)
  result.update(source)
  print(format_table(result), flush=True)
  if json_path:
    paths.write_text(json_path, json.dumps(result, indent=2, sort_keys=True))
    logging.info("wrote %s", json_path)
  return result


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.classifier:
    raise app.UsageError("--classifier=CLASSIFIER_WORKDIR is required")
  cli_setup.prepare_process()
  run_cli(classifier=FLAGS.classifier, samples=FLAGS.samples, workdir=FLAGS.workdir,
          num=FLAGS.num, seed=FLAGS.seed, step=FLAGS.step, classes=FLAGS.classes,
          classifier_checkpoint=FLAGS.classifier_checkpoint, real_split=FLAGS.real_split,
          data_dir=FLAGS.data_dir, cache_dir=FLAGS.cache_dir,
          inception_weights=FLAGS.inception_weights, fid_protocol=FLAGS.fid_protocol,
          json_path=FLAGS.json, write_panel=FLAGS.panel)


if __name__ == "__main__":
  _define_flags()
  cli_setup.run(main)
