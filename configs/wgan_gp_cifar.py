r"""WGAN-GP on CIFAR-10 with the SN-GAN ResNet: write-up 004's recipe (Gulrajani et al. 2017).

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/wgan_gp_cifar.py --workdir=runs/wgan_gp

CPU variant (2 cores, a few minutes, on real CIFAR-10 prepared offline):
  python -m pegasus_jax.main --config=configs/wgan_gp_cifar.py:cpu --workdir=runs/wgan_gp_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Choices (full run, as write-up 004 describes it): the SN-GAN CIFAR ResNet with 128 filters in
every ResBlock, DepthToSpace upsampling and SpaceToDepth downsampling, no normalisation in the
critic, Wasserstein loss with gradient penalty lambda 10, n_critic 5, batch 256, Adam 2e-4
(0, 0.9) with the learning rate linearly annealed to 0 over ~40k generator steps; all 10
classes as one. The write-up reports a classifier-based Inception Score of 8.04 (its own
CIFAR classifier, not Inception-v3; see ../shared/reference/README.md). Not measured here yet
(no accelerator so far).

CPU variant (`:cpu`: widths 64, batch 16, n_critic 2, 300 generator steps). Measured (2 shared
CPU cores at load 10-14): 45 min wall, including a SIGTERM and a bitwise resume; low-saturation
patches, no recognisable object; Wasserstein estimate 7.7. The run log: EVALUATION.md, "Config
run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import shrink_resnet_for_cpu, unknown_variant, use_sngan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = use_sngan_recipe(jointgan_config())  # the same ResNet, n_critic 5, Adam and schedule
  config.data.classes = ("all",)
  config.loss = "wasserstein"
  config.gp_weight = 10.0
  config.batch_size = 256
  config.total_steps = 40_000
  config.checkpoint_every = 5_000
  config.sample_every = 2_000
  config.model.g_width = 128
  config.model.d_width = 128
  config.model.d_norm = "none"
  config.model.upsample = "depth_to_space"
  config.model.downsample = "space_to_depth"
  if arg == "cpu":
    shrink_resnet_for_cpu(config)
  elif arg:
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
