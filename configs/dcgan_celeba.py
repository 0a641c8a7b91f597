r"""The seed's DCGAN at 128x128 on CelebA faces (write-up 002): one discriminator, all images.

  python -m pegasus_jax.main --config=configs/dcgan_celeba.py --workdir=runs/dcgan_celeba \
      --config.data.data_dir=DIR   # DIR: a TFDS data_dir where celeb_a is prepared

TFDS `celeb_a` has no labels (attributes, landmarks and identities only), so the config trains
on `data.classes=('all',)`: every image of the train split (162,770) as one class. Without a
prepared celeb_a, any folder of faces works the same way:
  --config.data.name=image_folder --config.data.path=../shared/images/celeba_subset

As write-up 002: the aligned 178x218 images center-cropped to 178x178 and resized to 128x128,
DCGAN networks with two more resolution blocks than at 32x32 (G: 4x4x1024 -> 128x128x3; D: five
stride-2 blocks of 64..1024 features, batch norm in all but the first D block, LeakyReLU 0.2 in
D, ReLU in G, tanh output), non-saturating BCE loss, Adam 2e-4 with beta1 = 0.5, z ~ N(0, I_100),
and ~50 epochs: batch 128 -> 1,272 steps per epoch, 64k steps = 50.3 epochs. Host memory: the
decoded train split is 162,770 x 128 x 128 x 3 bytes = 8.0 GB.

`:cpu` is a short smoke run on the 5,400-image CelebA subset folder at 64x64 with narrow
networks: 128x128 was ~2x slower per step on 2 busy CPU cores (1.3 s vs 0.65 s) and shows
nothing more in 300 steps; `--config.data.image_size=128` checks the 128 path.
Measured (2 shared CPU cores, 300 steps): 81 s with the folder decode; a face-like layout with
banding, D(real) 0.94, D(fake) 0.07. The run log: EVALUATION.md, "Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_dcgan_for_cpu, unknown_variant, use_dcgan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_dcgan_recipe(jointgan_config())  # z 100, batch-norm D, ReLU G, LeakyReLU D
  config.family = "dcgan"
  config.data.name = "celeb_a"
  config.data.classes = ("all",)
  config.data.split = "train"
  config.data.download = True  # TFDS's Google Drive download often hits its quota: see README
  config.batch_size = 128
  config.total_steps = 64_000
  config.checkpoint_every = 4_000
  config.sample_every = 1_000
  config.data.image_size = 128
  config.model.g_width = 64
  config.model.d_width = 64
  if arg == "cpu":
    shrink_dcgan_for_cpu(config)
    config.data.name = "image_folder"
    config.data.path = "../shared/images/celeba_subset"  # relative to the repo root
    config.data.image_size = 64
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
