"""GAN families by name: the config's `family` field picks one; the loop never special-cases."""

from __future__ import annotations

from typing import Callable

import ml_collections

from pegasus_jax.families.base import GANFamily
from pegasus_jax.families.jointgan import JointGAN

_FAMILIES: dict[str, Callable[..., GANFamily]] = {
    "jointgan": JointGAN,
    "dcgan": JointGAN,  # a single discriminator: JointGAN with one class (or one class union)
}

FAMILY_NAMES = tuple(_FAMILIES)


def create(config: ml_collections.ConfigDict, class_labels: tuple[str, ...]) -> GANFamily:
  """The family named by `config.family`, built for the resolved class labels."""
  if config.family not in _FAMILIES:
    raise ValueError(f"config.family={config.family!r} is unknown; valid: {FAMILY_NAMES}")
  return _FAMILIES[config.family](config, class_labels)
