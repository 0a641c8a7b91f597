r"""The seed's plain DCGAN on CIFAR-10 horses and birds together (one class: their union).

  python -m pegasus_jax.main --config=configs/dcgan_cifar.py --workdir=runs/dcgan_cifar

As the write-up did: batch norm and LeakyReLU in both networks, tanh output, sigmoid/BCE
(non-saturating) loss, z ~ N(0, I_100), batch 16, Adam 2e-4 with beta1 = 0.5. It runs on the
JointGAN engine with K = 1: a single discriminator is JointGAN with one class. The write-up
trained ~300+ epochs of the 10k horse+bird images (16 per batch: ~200k steps) and saw horse
shapes with some wings, and mode collapse in some runs.

`:cpu` is a smoke run. Measured (2-core CPU, 600 steps): ~1 min; photo-coloured blobs, no
animals, D(real) ~0.7 and D(fake) ~0.25. The run log: EVALUATION.md, "Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import unknown_variant, use_dcgan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_dcgan_recipe(jointgan_config())  # z 100, batch-norm D
  config.family = "dcgan"
  config.data.classes = ("horse+bird",)
  config.batch_size = 16
  config.total_steps = 200_000
  config.checkpoint_every = 5_000
  config.sample_every = 2_000
  config.model.g_activation = "leaky_relu"  # the write-up's: LeakyReLU in G too
  if arg == "cpu":
    config.total_steps = 600
    config.model.g_width = 32
    config.model.d_width = 32
    config.log_every = 50
    config.sample_every = 200
    config.checkpoint_every = 200
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
