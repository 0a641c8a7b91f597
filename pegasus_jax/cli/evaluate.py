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

import json
from typing import Any, Sequence

from absl import app, flags, logging

from pegasus_jax.cli import setup
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import fid_preprocessing
from pegasus_jax.evaluation.evaluators.sample_quality import split_class_labels
from pegasus_jax.evaluation.sample_metrics import (evaluate, load_classifier, load_samples,
                                                   panel_path_for)
from pegasus_jax.generation import sampling
from pegasus_jax.run import paths, restore

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
  flags.DEFINE_string("fid_protocol", fid_preprocessing.DEFAULT_FID_PROTOCOL,
                      "How images are resized and scaled for the Inception metrics: "
                      "pytorch_fid (pytorch-fid, torch-style resize) or tf_original (the "
                      "original TF FID code: TF1 resize_bilinear, (x - 128) / 128).")
  flags.DEFINE_string("json", None, "Write the results here as JSON.")
  flags.DEFINE_bool("panel", True, "With --json: also write the picture JSON_STEM.png (best and "
                    "worst samples, class shares).")


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
            fid_protocol: str = fid_preprocessing.DEFAULT_FID_PROTOCOL,
            json_path: str | None = None, write_panel: bool = True) -> dict[str, Any]:
  """What the command line does, as a function: evaluate, print the table, write the JSON."""
  fid_preprocessing.check_fid_protocol(fid_protocol)
  if fid_protocol != fid_preprocessing.DEFAULT_FID_PROTOCOL and not inception_weights:
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
  setup.prepare_process()
  run_cli(classifier=FLAGS.classifier, samples=FLAGS.samples, workdir=FLAGS.workdir,
          num=FLAGS.num, seed=FLAGS.seed, step=FLAGS.step, classes=FLAGS.classes,
          classifier_checkpoint=FLAGS.classifier_checkpoint, real_split=FLAGS.real_split,
          data_dir=FLAGS.data_dir, cache_dir=FLAGS.cache_dir,
          inception_weights=FLAGS.inception_weights, fid_protocol=FLAGS.fid_protocol,
          json_path=FLAGS.json, write_panel=FLAGS.panel)


def run_command() -> None:
  """Define the flags, parse them and run main(): `python -m pegasus_jax.evaluate`."""
  _define_flags()
  setup.run(main)


if __name__ == "__main__":
  run_command()
