r"""Class-conditional GAN on CIFAR-10: conditional batch norm in G, a projection discriminator.

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/cgan_cifar.py --workdir=runs/cgan
  python -m pegasus_jax.sample --workdir=runs/cgan --class=horse --num=64 --out=horses.png

CPU variant (2 cores, a few minutes, on real CIFAR-10 prepared offline):
  python -m pegasus_jax.main --config=configs/cgan_cifar.py:cpu --workdir=runs/cgan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Choices (full run): Miyato & Koyama 2018's CIFAR-10 setting on the SN-GAN ResNet (G 256, D 128
channels; G's batch norms take a per-class gain and bias, D adds <embed(y), phi(x)> to its
output), hinge loss, n_dis 5, batch 64, Adam 2e-4 (0, 0.9) linearly to 0 over 50k generator
steps; labelled batches drawn uniformly over the 10 classes. The write-up 003 trained its
conditional GAN on Pokemon types; CIFAR-10 classes are the labels here. Not measured on an
accelerator yet.

CPU variant (`:cpu`: widths 64, batch 16, n_dis 2, 300 generator steps, 10 classes). Measured
(2 shared CPU cores at load 8-11): 24 min wall; at step 300 the class rows are nearly identical
and show no recognisable object. The run log: EVALUATION.md, "Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_resnet_for_cpu, unknown_variant
from pegasus_jax.families.cgan import cgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = cgan_config()  # the SN-GAN recipe on labelled batches
  config.batch_size = 64
  config.total_steps = 50_000
  config.checkpoint_every = 5_000
  config.sample_every = 2_500
  config.num_sample_images = 80  # 8 per class: one row per class
  if arg == "cpu":
    shrink_resnet_for_cpu(config)
    config.num_sample_images = 60
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
