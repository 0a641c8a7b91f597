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

CPU variant (`:cpu`: widths 64, batch 16, n_dis 2, 300 generator steps, 10 classes), measured
2026-11-27 on the 2-core CPU while seven other jobs shared it (load average 8-11, several times
slower than a quiet machine): 300 steps in 1,423 s of training (24 min wall); rerunning the same
command resumes the finished run and stops at once. The step-300 picture
(DIR/class_rows/step_0000300.png, one row per class in data.classes order, the same 6 latents
in each column): the columns differ (greens, browns, a white round blob in one) but the rows are
nearly identical -- after 300 steps the class conditioning (gains and biases that start equal
for every class) has not visibly taken hold; no recognisable object. Step 300: hinge D 0.77,
G 0.97, critic real 0.98 vs fake -0.90.
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_resnet_for_cpu
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
    raise ValueError(f"unknown variant {arg!r} of configs/cgan_cifar.py; valid: '', 'cpu'")
  return config
