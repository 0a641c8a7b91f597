r"""Draw images from a trained generator.

  python -m pegasus_jax.sample --workdir=DIR --num=64 --out=grid.png [--seed=0] [--step=STEP]
  python -m pegasus_jax.sample --workdir=CGAN_DIR --class=horse --num=64 --out=horses.png

`.png` writes one grid; `.npz` writes key `images`, uint8 (N, H, W, C). The same seed (and
checkpoint) gives the same images. `--class` needs a conditional run (configs/cgan_cifar.py).
"""

from __future__ import annotations

import os

from absl import app, flags, logging

from pegasus_jax import cli_setup, restore, sampling

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Only when run as a program, so other tools can import this module (absl flags are global)."""
  flags.DEFINE_string("workdir", None, "Workdir of a training run.")
  flags.DEFINE_integer("num", 64, "How many images.")
  flags.DEFINE_string("out", None, "Output file: .png (a grid) or .npz (uint8 array 'images').")
  flags.DEFINE_integer("seed", 0, "Seed of the latent vectors.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  flags.DEFINE_integer("batch_size", 256, "Images generated per device call.")
  flags.DEFINE_string("class", None, "Conditional runs: draw only this class (a label or index).")
  flags.mark_flags_as_required(["workdir", "out"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli_setup.prepare_process()
  if FLAGS.num < 1:
    raise app.UsageError("--num must be >= 1")
  if os.path.splitext(FLAGS.out)[1].lower() not in (".png", ".npz"):
    raise app.UsageError(f"--out={FLAGS.out!r}: use a .png (grid) or .npz (array) file name")
  run = restore.load_run(FLAGS.workdir, FLAGS.step)
  images = sampling.generate_images(run, FLAGS.num, FLAGS.seed, FLAGS.batch_size,
                                    class_name=FLAGS["class"].value)
  sampling.write_images(FLAGS.out, images)
  logging.info("Wrote %d images from step %d to %s", FLAGS.num, run.step, FLAGS.out)


if __name__ == "__main__":
  define_flags()
  cli_setup.run(main)
