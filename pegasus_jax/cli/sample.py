r"""Draw images from a trained generator.

  python -m pegasus_jax.sample --workdir=DIR --num=64 --out=grid.png [--seed=0] [--step=STEP]
  python -m pegasus_jax.sample --workdir=CGAN_DIR --class=horse --num=64 --out=horses.png
  python -m pegasus_jax.sample --workdir=DIR --num=64 --select_from=1024 \
      --classifier=CLASSIFIER_WORKDIR --classes=horse,bird --out=pegasi.png \
      [--scorer_option disc_weight=0.1]

`.png` writes one grid; `.npz` writes key `images`, uint8 (N, H, W, C). The same seed (and
checkpoint) gives the same images. `--class` needs a conditional run (configs/cgan_cifar.py);
`--class=horse:0.5,bird:0.5` mixes the classes' conditional-batch-norm gains and biases by the
weights (>= 0, summing to 1; `pegasus_jax.generation.blending`).

`--select_from=M` draws M images and keeps the --num with the highest classifier pegasus score
(`pegasus_jax.generation.scoring`, scorer 'classifier': K * min over --classes of
p(class | image)), best first; equal scores keep the order of drawing. Beside --out it writes
OUT_scores.json: the kept images' positions, scores and per-class probabilities, and score summaries
of the kept, the not kept and all drawn images.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
from absl import app, flags, logging

from pegasus_jax.cli import setup
from pegasus_jax.errors import ConfigError
from pegasus_jax.generation import sampling, scoring
from pegasus_jax.run import paths, restore

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Only when run as a program, so other tools can import this module (absl flags are global)."""
  flags.DEFINE_string("workdir", None, "Workdir of a training run.")
  flags.DEFINE_integer("num", 64, "How many images.")
  flags.DEFINE_string("out", None, "Output file: .png (a grid) or .npz (uint8 array 'images').")
  flags.DEFINE_integer("seed", 0, "Seed of the latent vectors.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  flags.DEFINE_integer("batch_size", 256, "Images generated per device call.")
  flags.DEFINE_string("class", None, "Conditional runs: draw only this class (a label or "
                      "index), or a blend of class embeddings, e.g. horse:0.5,bird:0.5.")
  flags.DEFINE_integer("select_from", None, "Draw this many images and keep the --num with the "
                       "highest classifier pegasus score (needs --classifier and --classes).")
  flags.DEFINE_string("classifier", None, "With --select_from: workdir of a "
                      "configs/classifier.py run.")
  flags.DEFINE_list("classes", None, "With --select_from: the classes to blend, e.g. horse,bird.")
  flags.DEFINE_enum("classifier_checkpoint", "best", ["best", "latest"],
                    "With --select_from: the classifier's best checkpoint (by validation "
                    "accuracy, when the run kept one) or its latest.")
  flags.DEFINE_multi_string("scorer_option", [], "With --select_from: key=value for the "
                            "classifier scorer, e.g. disc_weight=0.1.")
  flags.mark_flags_as_required(["workdir", "out"])


def check_selection_flags(num: int, select_from: int | None, classifier: str | None,
                          classes: Sequence[str] | None, scorer_options: Sequence[str]) -> None:
  """The selection flags' combinations, refused before anything is loaded."""
  if select_from is None:
    given = [name for name, value in (("--classifier", classifier), ("--classes", classes),
                                      ("--scorer_option", scorer_options)) if value]
    if given:
      raise ConfigError(f"{', '.join(given)} only apply with --select_from=M (draw M images, "
                        "keep the --num best)")
    return
  if select_from < num:
    raise ConfigError(f"--select_from={select_from} must be >= --num={num} (it draws "
                      "--select_from images and keeps the --num best)")
  if not classifier:
    raise ConfigError("--select_from needs --classifier=CLASSIFIER_WORKDIR (a "
                      "configs/classifier.py run) to score the drawn images")
  if not classes:
    raise ConfigError("--select_from needs --classes, e.g. --classes=horse,bird")


def _summary(scores: np.ndarray) -> dict[str, float] | None:
  if not len(scores):
    return None
  return {"count": int(len(scores)), "mean": float(scores.mean()),
          "median": float(np.median(scores)), "min": float(scores.min()),
          "max": float(scores.max())}


def selection_report(selection: sampling.Selection, scorer: scoring.Scorer,
                     **about: Any) -> dict[str, Any]:
  """What OUT_scores.json holds: the kept images' scores, and summaries kept / not kept / all."""
  not_kept = np.delete(selection.all_scores, selection.indices)
  return dict(
      about, scorer=scorer.name, scorer_description=scorer.description,
      order="best first (row-major in a .png grid)",
      kept=[dict(rank=rank, index=int(index), score=float(score),
                 **{name: float(value[rank]) for name, value in selection.details.items()})
            for rank, (index, score) in enumerate(zip(selection.indices, selection.scores))],
      summary={"kept": _summary(selection.scores), "not_kept": _summary(not_kept),
               "all_drawn": _summary(selection.all_scores)})


def scores_path(out: str) -> str:
  """OUT_scores.json beside --out."""
  return os.path.splitext(out)[0] + "_scores.json"


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  setup.prepare_process()
  if FLAGS.num < 1:
    raise app.UsageError("--num must be >= 1")
  if os.path.splitext(FLAGS.out)[1].lower() not in (".png", ".npz"):
    raise app.UsageError(f"--out={FLAGS.out!r}: use a .png (grid) or .npz (array) file name")
  check_selection_flags(FLAGS.num, FLAGS.select_from, FLAGS.classifier, FLAGS.classes,
                        FLAGS.scorer_option)
  run = restore.load_run(FLAGS.workdir, FLAGS.step)
  class_name = FLAGS["class"].value
  if FLAGS.select_from is None:
    images = sampling.generate_images(run, FLAGS.num, FLAGS.seed, FLAGS.batch_size,
                                      class_name=class_name)
    sampling.write_images(FLAGS.out, images)
    logging.info("Wrote %d images from step %d to %s", FLAGS.num, run.step, FLAGS.out)
    return
  options = scoring.parse_scorer_options(
      FLAGS.scorer_option, classifier=FLAGS.classifier, classes=",".join(FLAGS.classes),
      classifier_checkpoint=FLAGS.classifier_checkpoint)
  scorer = scoring.create_scorer("classifier", run, options)
  selection = sampling.select_images(run, scorer, FLAGS.num, FLAGS.select_from, FLAGS.seed,
                                     FLAGS.batch_size, class_name)
  sampling.write_images(FLAGS.out, selection.images)
  report = selection_report(
      selection, scorer, workdir=str(paths.resolve(FLAGS.workdir)), step=run.step,
      seed=FLAGS.seed, num=FLAGS.num, select_from=FLAGS.select_from, classes=FLAGS.classes,
      images=FLAGS.out, **{"class": class_name})
  paths.write_text(scores_path(FLAGS.out), json.dumps(report, indent=2))
  summary = report["summary"]
  logging.info("Kept %d of %d images from step %d (score mean %.3f; all drawn %.3f); wrote %s "
               "and %s", FLAGS.num, FLAGS.select_from, run.step, summary["kept"]["mean"],
               summary["all_drawn"]["mean"], FLAGS.out, scores_path(FLAGS.out))


def run_command() -> None:
  """Define the flags, parse them and run main(): `python -m pegasus_jax.sample`."""
  define_flags()
  setup.run(main)


if __name__ == "__main__":
  run_command()
