"""What the configs in configs/ share: recipe helpers that set a published recipe's fields or
shrink a config to its `:cpu` size (each takes a config of the family's field set and returns
it, changed in place), and the one error for a variant a config does not have.

The configs import this one module for them, so they load the same whether given by path or
imported.
"""

from __future__ import annotations

import os
from typing import Sequence

import ml_collections


def unknown_variant(arg: str | None, config_file: str, valid: Sequence[str]) -> ValueError:
  """The error `get_config(arg)` raises for a variant it does not have: names the file and the
  valid variants (`raise unknown_variant(arg, __file__, ("", "cpu"))`)."""
  name = f"configs/{os.path.basename(config_file)}"
  return ValueError(f"unknown variant {arg!r} of {name}; valid: {', '.join(map(repr, valid))}")


def use_sngan_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The SN-GAN CIFAR-10 ResNet recipe (Miyato et al. 2018): G 256 / D 128 channels, spectral
  norm, hinge loss, n_dis 5, Adam 2e-4 (0, 0.9) linearly to 0. Configs start here and override."""
  config.model.arch = "resnet"
  config.model.g_width = 256
  config.model.d_width = 128
  config.model.d_norm = "spectral"
  config.loss = "hinge"
  config.n_disc = 5
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 2e-4
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.9
  config.optimizer.schedule = "linear"
  return config


def use_dcgan_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The DCGAN recipe of the write-ups (Radford et al. 2016): z ~ N(0, I_100), batch norm in the
  discriminator, ReLU in G and LeakyReLU in D; the networks and Adam (2e-4, beta1 0.5) are
  `gan_config`'s defaults. Configs start here and override."""
  config.model.z_dim = 100
  config.model.d_norm = "batch"
  config.model.g_activation = "relu"
  config.model.d_activation = "leaky_relu"
  return config


def shrink_dcgan_for_cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The 64x64 DCGANs' `:cpu` smoke size (CelebA, Pokemon): narrow networks, 300 steps."""
  config.model.g_width = 16
  config.model.d_width = 16
  config.batch_size = 32
  config.total_steps = 300
  config.log_every = 50
  config.sample_every = 100
  config.checkpoint_every = 100
  return config


def shrink_resnet_for_cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The ResNet GANs' `:cpu` size (SN-GAN, WGAN-GP, cGAN): minutes on 2 cores, same recipe."""
  config.total_steps = 300
  config.batch_size = 16
  config.n_disc = 2
  config.model.g_width = 64
  config.model.d_width = 64
  config.log_every = 25
  config.sample_every = 100
  config.checkpoint_every = 100
  return config
