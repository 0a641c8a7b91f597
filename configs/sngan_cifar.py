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

CPU variant (`:cpu`: widths 64, batch 16, n_dis 2, 300 generator steps), measured 2026-11-26 on
the 2-core CPU while seven other jobs shared it (load average 6-12): 12 min wall (681 s of
training after the data load and compile; about 1 step/s at load 6, 0.35 at load 12), checkpoints
at 100/200/300. The step-300 grid (DIR/samples/step_0000300.png): 64 varied photo-coloured
patches -- greens, browns, greys and whites, many with a darker centred blob on a lighter
background, with a fine grain; no recognisable object yet. Last logged hinge losses: D 0.85,
G 0.90, critic real 0.96 vs fake -0.75.
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_resnet_for_cpu, use_sngan_recipe
from pegasus_jax.families.gan_recipe import gan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_sngan_recipe(gan_config())
  config.family = "jointgan"
  config.data.classes = ("all",)
  config.batch_size = 64
  config.total_steps = 50_000
  config.checkpoint_every = 5_000
  config.sample_every = 2_500
  if arg == "cpu":
    shrink_resnet_for_cpu(config)
  elif arg:
    raise ValueError(f"unknown variant {arg!r} of configs/sngan_cifar.py; valid: '', 'cpu'")
  return config
