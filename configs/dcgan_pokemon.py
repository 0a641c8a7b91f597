r"""A 64x64 DCGAN on Pokemon artwork from an image folder (write-up 003, the GAN primer).

  python -m pegasus_jax.main --config=configs/dcgan_pokemon.py --workdir=runs/dcgan_pokemon

`data.path` defaults to `../shared/images/pokemon`, relative to the current directory: run from
the repository root (where `../shared` is the team's shared data), or pass
`--config.data.path=DIR` with any folder of Pokemon images (searched recursively). The 809
100x100 RGBA thumbnails are composited on white, then resized to 64x64; all of them are one
class, 'all' (no labels: single-discriminator training).

DCGAN recipe as the primer lists it (batch norm in both networks, strided convolutions, ReLU in
G, LeakyReLU in D, tanh output), Adam 2e-4 with beta1 = 0.5, z ~ N(0, I_100), batch 64. 809
images are few: 12 steps per epoch, so 20k steps is ~1,600 epochs; expect the discriminator to
win and samples to memorise or collapse late in training -- compare the grids in
DIR/samples/ across steps rather than trusting the last one.

`:cpu` is a short smoke run with narrow networks. Measured (2 shared CPU cores, 300 steps): 80 s;
grey-white blobs, nothing Pokemon-like, D(real) 0.97, D(fake) 0.03. The run log: EVALUATION.md,
"Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_dcgan_for_cpu, unknown_variant, use_dcgan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_dcgan_recipe(jointgan_config())  # z 100, batch-norm D, ReLU G, LeakyReLU D
  config.family = "dcgan"
  config.data.name = "image_folder"
  config.data.path = "../shared/images/pokemon"  # relative to the current directory
  config.data.classes = ("all",)
  config.batch_size = 64
  config.total_steps = 20_000
  config.checkpoint_every = 2_000
  config.sample_every = 500
  config.data.image_size = 64
  if arg == "cpu":
    shrink_dcgan_for_cpu(config)
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
