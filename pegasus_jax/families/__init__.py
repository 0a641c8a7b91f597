"""Families by name: the config's `family` field picks one; the loop never special-cases.

Each family class carries its own name, config defaults, config checks and checkpoint
signature (`families.base.Family`); listing it in `_FAMILIES` here is the only other step.
"""

from __future__ import annotations

import ml_collections

from pegasus_jax import registry
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Family
from pegasus_jax.families.bigan import BiGAN
from pegasus_jax.families.cgan import ConditionalGAN
from pegasus_jax.families.classifier import Classifier
from pegasus_jax.families.cyclegan import CycleGAN
from pegasus_jax.families.jointgan import JointGAN
from pegasus_jax.families.toy1d import Toy1DGAN

_FAMILIES: dict[str, type] = registry.by_name((
    JointGAN,  # 'jointgan', and 'dcgan': a single discriminator is JointGAN with one class
    ConditionalGAN,  # 'cgan': class-conditional G, projection D (configs/cgan_cifar.py)
    Classifier,  # the evaluation classifier, no generator (configs/classifier.py)
    BiGAN,  # encoder + generator + joint discriminator (configs/bigan_mnist.py)
    Toy1DGAN,  # 1-D toy GAN, minimax vs non-saturating (configs/toy1d.py)
    CycleGAN,  # two domains, G_ab/G_ba, D_a/D_b (configs/cyclegan_mnist.py)
))


def family_class(name: str) -> type:
  """The class registered as `name`; ConfigError listing the valid names otherwise."""
  if name not in _FAMILIES:
    raise ConfigError(f"config.family={name!r} is unknown; valid: {sorted(_FAMILIES)}")
  return _FAMILIES[name]


def create(config: ml_collections.ConfigDict, info: DataInfo) -> Family:
  """The family named by `config.family`, built for the data it will train on."""
  return family_class(config.family)(config, info)
