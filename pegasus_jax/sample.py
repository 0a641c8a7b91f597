r"""Draw images from a trained generator.

  python -m pegasus_jax.sample --workdir=DIR --num=64 --out=grid.png [--seed=0] [--step=STEP]

`.png` writes one grid; `.npz` writes key `images`, uint8 (N, H, W, C). The same seed (and
checkpoint) gives the same images.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import app, flags, logging

from pegasus_jax import metrics

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Workdir of a training run.")
flags.DEFINE_integer("num", 64, "How many images.")
flags.DEFINE_string("out", None, "Output file: .png (a grid) or .npz (uint8 array 'images').")
flags.DEFINE_integer("seed", 0, "Seed of the latent vectors.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_integer("batch_size", 256, "Images generated per device call.")


def generate_images(run, num: int, seed: int, batch_size: int = 256) -> np.ndarray:
  """uint8 (num, H, W, C) from `run`'s generator with latents drawn from `seed`."""
  latents = run.family.latents(jax.random.PRNGKey(seed), num)
  generate = jax.jit(run.family.generate)
  chunks = [np.asarray(generate(run.state, latents[i:i + batch_size]))
            for i in range(0, num, batch_size)]
  return metrics.to_uint8(np.concatenate(chunks))


def write_images(path: str, images: np.ndarray) -> None:
  """Write uint8 images as a PNG grid or an .npz, chosen by the file extension."""
  extension = os.path.splitext(path)[1].lower()
  if extension == ".png":
    metrics.save_png(path, metrics.image_grid(images))
  elif extension == ".npz":
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, images=images)
  else:
    raise ValueError(f"--out={path!r}: use a .png (grid) or .npz (array) file name")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from pegasus_jax import cli_setup, restore  # pylint: disable=g-import-not-at-top
  cli_setup.prepare_process()
  if FLAGS.num < 1:
    raise app.UsageError("--num must be >= 1")
  if os.path.splitext(FLAGS.out)[1].lower() not in (".png", ".npz"):
    raise app.UsageError(f"--out={FLAGS.out!r}: use a .png (grid) or .npz (array) file name")
  run = restore.load_run(FLAGS.workdir, FLAGS.step)
  images = generate_images(run, FLAGS.num, FLAGS.seed, FLAGS.batch_size)
  write_images(FLAGS.out, images)
  logging.info("Wrote %d images from step %d to %s", FLAGS.num, run.step, FLAGS.out)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "out"])
  app.run(main)
