r"""Draw pegasi: images a guide classifier reads as a horse and a bird at once.

  python -m pegasus_jax.pegasus --workdir=RUN --guide=CLASSIFIER_RUN --num=64 --out=pegasus.png \
      [--seed=0 --method=auto|select|guided_latent|blend --candidates=1024 --classes=horse,bird]

`--method=auto` uses the method of `hybrids.DEFAULT_METHODS` for the run's family (JointGAN /
DCGAN: selection by the guide; the conditional GAN: class-embedding blend
search). `.png` writes a grid, `.npz` the uint8 images (key `images`), like `sample`; beside it
OUT.json holds the method, its parameters and each image's guide probabilities. The same seed
(and checkpoints) gives the same images. The guide steers the method; judge the output with a
different classifier (`benchmarks/pegasus_methods.py`).
"""

from __future__ import annotations


from absl import flags, logging

from pegasus_jax.cli import setup
from pegasus_jax.generation import guided_latent, hybrids
from pegasus_jax.errors import ConfigError

FLAGS = flags.FLAGS
def define_flags() -> None:
  """Only when run as a program (absl flags are global; other tools define --workdir too)."""
  defaults = guided_latent.LangevinOptions()
  flags.DEFINE_string("workdir", None, "Workdir of a training run (a generator).")
  flags.DEFINE_string("guide", None, "Workdir of the guide classifier (configs/classifier.py), "
                      "or several, comma-separated: an ensemble (the mean of their "
                      "probabilities). Not the classifier the run was trained against.")
  flags.DEFINE_integer("num", 64, "How many images.")
  flags.DEFINE_string("out", None, "Output file: .png (a grid) or .npz (uint8 array 'images').")
  flags.DEFINE_integer("seed", 0, "Seed of the candidate latents and of the sampler's noise.")
  flags.DEFINE_enum("method", "auto", ["auto", *hybrids.METHODS], "How to draw; 'auto': the "
                    "family's default (hybrids.DEFAULT_METHODS).")
  flags.DEFINE_integer("candidates", 1024, "Prior draws the method starts from (>= --num).")
  flags.DEFINE_list("classes", ["horse", "bird"], "The two classes to hybridise.")
  flags.DEFINE_integer("step", None, "Checkpoint step of the run (default: the newest).")
  flags.DEFINE_enum("guide_checkpoint", "best", ["best", "latest"], "The guide's best "
                    "checkpoint (by validation accuracy) or its latest.")
  flags.DEFINE_integer("batch_size", 256, "Images per device call.")
  flags.DEFINE_integer("steps", defaults.steps, "guided_latent: Langevin steps.")
  flags.DEFINE_float("step_size", defaults.step_size, "guided_latent: step size h.")
  flags.DEFINE_float("noise", defaults.noise, "guided_latent: noise scale (1 Langevin, 0 "
                     "gradient descent).")
  flags.DEFINE_float("guide_weight", defaults.guide_weight, "guided_latent: w_c, the weight "
                     "of log(augmented guide score).")
  flags.DEFINE_float("disc_weight", defaults.disc_weight, "guided_latent: w_D, the weight of "
                     "the discriminator logits.")
  flags.DEFINE_enum("disc_reduce", defaults.disc_reduce, list(guided_latent.DISC_REDUCTIONS),
                    "guided_latent: over the class discriminators.")
  flags.DEFINE_integer("n_aug", defaults.n_aug, "guided_latent: augmentations per guide score.")
  flags.DEFINE_string("augment", defaults.augment, "guided_latent: DiffAugment policy.")
  flags.DEFINE_integer("blend_grid", 11, "blend: weights w in linspace(0, 1, blend_grid).")
  flags.mark_flags_as_required(["workdir", "guide", "out"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {argv[1:]}")
  setup.prepare_process()
  langevin = guided_latent.LangevinOptions(
      steps=FLAGS.steps, step_size=FLAGS.step_size, noise=FLAGS.noise,
      disc_weight=FLAGS.disc_weight, guide_weight=FLAGS.guide_weight,
      disc_reduce=FLAGS.disc_reduce, n_aug=FLAGS.n_aug, augment=FLAGS.augment)
  drawn = hybrids.draw_to_file(FLAGS.workdir, FLAGS.guide, FLAGS.out, FLAGS.num, FLAGS.seed, FLAGS.method,
               FLAGS.candidates, FLAGS.classes, FLAGS.step, FLAGS.guide_checkpoint,
               FLAGS.batch_size, langevin, FLAGS.blend_grid)
  logging.info("Drew %d images by %s (guide score mean %.3f); wrote %s and %s", len(drawn.images),
               drawn.method, float(drawn.scores.mean()), FLAGS.out, hybrids.json_path(FLAGS.out))


def run_command() -> None:
  """Define the flags, parse them and run main(): `python -m pegasus_jax.pegasus`."""
  define_flags()
  setup.run(main)


if __name__ == "__main__":
  run_command()
