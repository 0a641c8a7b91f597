r"""SN-GAN on CIFAR-10: the SN-GAN ResNet, hinge loss, spectral norm in D (Miyato et al. 2018).

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/sngan_cifar.py --workdir=runs/sngan

CPU variant (2 cores, a few minutes, on real CIFAR-10 prepared offline):
  python -m pegasus_jax.main --config=configs/sngan_cifar.py:cpu --workdir=runs/sngan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Choices (full run, the paper's CIFAR-10 ResNet setting): G z(128) -> 4x4x256 -> 3 up-ResBlocks
(256) -> BN-ReLU-conv3x3-tanh; D optimised block + 3 ResBlocks (128), ReLU, global sum pooling,
linear, spectral norm everywhere; hinge loss, n_dis = 5, batch 64, Adam 2e-4 (0, 0.9), learning
rate linearly to 0 over 50k generator steps; all 10 classes as one ('all': one discriminator;
`data.classes` works as everywhere, e.g. ('horse+bird',)). The full run has not been measured
here (no accelerator yet).

CPU variant (`:cpu`: widths 64, batch 16, n_dis 2, 300 generator steps). Measured (2 shared CPU
cores at load 6-12): 12 min wall; varied photo-coloured patches, no recognisable object; hinge
D 0.85, G 0.90. The run log: EVALUATION.md, "Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_resnet_for_cpu, unknown_variant, use_sngan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_sngan_recipe(jointgan_config())
  config.data.classes = ("all",)
  config.batch_size = 64
  config.total_steps = 50_000
  config.checkpoint_every = 5_000
  config.sample_every = 2_500
  if arg == "cpu":
    shrink_resnet_for_cpu(config)
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
