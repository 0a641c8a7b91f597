r"""`python -m pegasus_jax.latent {interpolate|search|optimize}`: the latent tools' flags, main().

  python -m pegasus_jax.latent interpolate --workdir=DIR --start=0 --end=1 [--method=slerp]
  python -m pegasus_jax.latent search --workdir=DIR --num=1024 --top_k=16 [--scorer=...]
  python -m pegasus_jax.latent optimize --workdir=DIR --start=top.npz [--steps=200 --lr=0.05]
  python -m pegasus_jax.latent search --workdir=DIR --scorer=classifier --classifier=CLF_DIR \
      --classes=horse,bird [--scorer_option disc_weight=0.1]

What each command does, and how latents are given, is in `pegasus_jax.generation.latent`.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags, logging

from pegasus_jax.cli import setup
from pegasus_jax.families.base import GeneratesFromPrior, require
from pegasus_jax.generation import scoring
from pegasus_jax.generation.latent import (METHODS, latent_dim, run_interpolate, run_optimize,
                                           run_search)
from pegasus_jax.run import restore

COMMANDS = ("interpolate", "search", "optimize")
FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI's flags, defined only when run as a program: `pegasus_jax.sample` defines some of
  the same names (--workdir, --num, ...), and absl rejects duplicates in one process."""
  flags.DEFINE_string("workdir", None, "Workdir of a training run.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  flags.DEFINE_string("out", None, "Output directory (default: WORKDIR/latent/<command>).")
  flags.DEFINE_integer("batch_size", 256, "Latents per generator call.")
  flags.DEFINE_string("start", "0",
                      "Start latent(s): a seed, FILE.npz (all rows) or FILE.npz:ROW.")
  flags.DEFINE_string("end", "1", "interpolate: end latent, a seed or FILE.npz[:ROW].")
  flags.DEFINE_integer("frames", 9, "interpolate: images in the strip, endpoints included.")
  flags.DEFINE_enum("method", "both", METHODS + ("both",), "interpolate: slerp, linear or both.")
  flags.DEFINE_integer("frame_ms", 120, "interpolate: GIF frame duration in milliseconds.")
  flags.DEFINE_integer("gif_scale", 0, "interpolate: GIF upscaling (0: enough for >= 128 px).")
  flags.DEFINE_integer("seed", 0, "search: seed of the M latents drawn.")
  flags.DEFINE_integer("num", None, "search: latents drawn, M (default 1024); optimize: latents "
                       "drawn when --start is a seed (default 8).")
  flags.DEFINE_integer("top_k", 16, "search: how many of the best to keep.")
  flags.DEFINE_string("scorer", "discriminators", "search/optimize: scorer name "
                      "(pegasus_jax.generation.scoring).")
  flags.DEFINE_multi_string("scorer_option", [], "search/optimize: key=value for the scorer, "
                            "e.g. disc_weight=0.1 with --scorer=classifier.")
  flags.DEFINE_string("classifier", None, "search/optimize with --scorer=classifier: workdir of "
                      "a configs/classifier.py run.")
  flags.DEFINE_list("classes", None, "search/optimize with --scorer=classifier: the classes to "
                    "blend, e.g. horse,bird.")
  flags.DEFINE_integer("steps", 200, "optimize: gradient-ascent steps.")
  flags.DEFINE_float("lr", 0.05, "optimize: Adam learning rate on the latents.")
  flags.DEFINE_bool("project", True, "optimize: project onto the sphere of radius sqrt(z_dim) "
                    "after every step.")
def main(argv: list[str]) -> None:
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f"usage: python -m pegasus_jax.latent {{{'|'.join(COMMANDS)}}} "
                         f"--workdir=DIR ...; got {argv[1:]}")
  command = argv[1]
  setup.prepare_process()
  run = restore.load_run(FLAGS.workdir, FLAGS.step)
  require(run.family, GeneratesFromPrior, "the latent tools", run.config.family)
  latent_dim(run)
  out = FLAGS.out or os.path.join(FLAGS.workdir, "latent", command)
  if command == "interpolate":
    methods = METHODS if FLAGS.method == "both" else (FLAGS.method,)
    written = run_interpolate(run, out, FLAGS.start, FLAGS.end, FLAGS.frames, methods,
                              FLAGS.frame_ms, FLAGS.gif_scale, FLAGS.batch_size)
    logging.info("Wrote %s", ", ".join(sorted(written.values())))
    return
  options = scoring.parse_scorer_options(
      FLAGS.scorer_option, classifier=FLAGS.classifier,
      classes=",".join(FLAGS.classes) if FLAGS.classes else None)
  scorer = scoring.create_scorer(FLAGS.scorer, run, options)
  if command == "search":
    num = FLAGS.num or 1024
    result = run_search(run, scorer, out, num, FLAGS.top_k, FLAGS.seed, FLAGS.batch_size)
    logging.info("Top %d of %d by %s: scores %.3f .. %.3f (median of all %.3f); wrote %s",
                 FLAGS.top_k, num, scorer.name, result.scores[0], result.scores[-1],
                 float(np.median(result.all_scores)), out)
  else:
    result = run_optimize(run, scorer, out, FLAGS.start, FLAGS.num or 8, FLAGS.steps, FLAGS.lr,
                          FLAGS.project, FLAGS.batch_size)
    logging.info("Optimised %d latents by %s: mean score %.3f -> %.3f; wrote %s",
                 len(result.scores), scorer.name, float(result.start_scores.mean()),
                 float(result.scores.mean()), out)


def run_command() -> None:
  """Define the flags, parse them and run main(): `python -m pegasus_jax.latent`."""
  define_flags()
  flags.mark_flags_as_required(["workdir"])
  setup.run(main)


if __name__ == "__main__":
  run_command()
