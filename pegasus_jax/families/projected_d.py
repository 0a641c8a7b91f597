"""The projected discriminator option of the GAN families (`model.d_arch='projected'`).

Why: at CPU scale a GAN's discriminator spends most of its steps learning image features from
scratch. A projected discriminator (Sauer et al. 2021, `models.projected`) reads them from a
frozen classifier this project already trained (`model.projected.backbone`, a classifier
run's workdir, `configs/classifier.py:fast`) and trains only small heads on them.

The frozen network's weights are constants of the family (closed over by the jitted steps):
they are not in the train state, no optimiser sees them and no gradient is taken with respect
to them, while the generator's gradient flows through the network into its images. Which
network was used is part of the run's config: the workdir, and the SHA-256 of its loaded
variables in `model.projected.backbone_sha256` (filled in when the run starts), so resuming a
run with another backbone is refused by the checkpoint's config check.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from pegasus_jax.config import checks
from pegasus_jax.config.defaults import flatten_config
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.frozen_classifier import is_classifier_run
from pegasus_jax.families.frozen_classifier import load as load_frozen_classifier
from pegasus_jax.models import fast_cifar, projected

PyTree = Any
D_ARCHS = ("default", "projected")  # 'default': the discriminator of model.arch
BACKBONE_FIELD = "config.model.projected.backbone"


def projected_config() -> ml_collections.ConfigDict:
  """`config.model.projected`: the frozen network and the heads (their width: model.d_width)."""
  return ml_collections.ConfigDict(dict(
      backbone="",  # a classifier run's workdir (fast_cifar); its best checkpoint if it kept one
      backbone_sha256="",  # filled in from the loaded network; a resume must match it
      mix_channels=64,  # channels of the random cross-channel mixing, per scale
      spectral_norm=True,  # spectral norm in the heads
  ))


FIELD_CHECKS: dict[str, checks.Check] = {
    "model.d_arch": checks.one_of(*D_ARCHS),
    "model.projected.backbone": checks.string,
    "model.projected.backbone_sha256": checks.string,
    "model.projected.mix_channels": checks.positive_int,
    "model.projected.spectral_norm": checks.boolean,
}


def d_arch(config: ml_collections.ConfigDict) -> str:
  """`model.d_arch`, 'default' for runs saved before the field existed."""
  return config.model.get("d_arch", "default")


def check_config(config: ml_collections.ConfigDict) -> None:
  """The option's fields; with d_arch='projected', a backbone workdir that holds checkpoints."""
  checks.run_checks(flatten_config(config), FIELD_CHECKS)
  if d_arch(config) != "projected":
    return
  backbone = config.model.projected.backbone
  if not backbone:
    raise ConfigError(f"{BACKBONE_FIELD}='' : model.d_arch='projected' needs the workdir of a "
                      "trained classifier run (configs/classifier.py:fast)")
  if not is_classifier_run(backbone):
    raise ConfigError(f"{BACKBONE_FIELD}={backbone!r} holds no checkpoints (expected "
                      f"{backbone}/checkpoints/STEP); is it a classifier run's --workdir?")
  if config.data.image_size < projected.MIN_IMAGE_SIZE:
    raise ConfigError(f"config.data.image_size={config.data.image_size}: model.d_arch="
                      f"'projected' needs images of at least {projected.MIN_IMAGE_SIZE}x"
                      f"{projected.MIN_IMAGE_SIZE} (the backbone pools three times)")


@dataclasses.dataclass(frozen=True)
class Backbone:
  """A frozen classifier network: its module and variables (constants), where it came from."""

  model: fast_cifar.FastCifarNet
  variables: PyTree
  workdir: str
  step: int
  sha256: str

  def features(self, images: jax.Array) -> list[jax.Array]:
    """The feature pyramid (finest first) of images (N, H, W, C) in [-1, 1]."""
    return projected.fast_cifar_features(self.model, self.variables, images)


def _require_fast_cifar(workdir: str, config: ml_collections.ConfigDict) -> None:
  network = (f"{config.family!r} run" if config.family != "classifier" else
             f"classifier run of model.name={config.model.get('name', 'resnet')!r}")
  if config.family != "classifier" or config.model.get("name") != "fast_cifar":
    raise ConfigError(f"{BACKBONE_FIELD}={workdir!r} is a {network}; the projected "
                      "discriminator reads a 'classifier' run of model.name='fast_cifar'")


def load_backbone(workdir: str) -> Backbone:
  """The classifier run in `workdir` (`frozen_classifier.load`) as a frozen feature network.

  ConfigError naming `model.projected.backbone` when it is not a fast_cifar classifier run.
  """
  frozen = load_frozen_classifier(workdir, BACKBONE_FIELD)
  _require_fast_cifar(workdir, frozen.config)
  return Backbone(model=frozen.family.model, variables=frozen.variables, workdir=str(workdir),
                  step=frozen.step, sha256=frozen.sha256)


class ProjectedClassDiscriminators:
  """K projected discriminators over one frozen backbone, called like a linen module.

  `init(rng, images, update_stats, train)` and `apply(variables, images, update_stats, train,
  **apply_kwargs)` take images (K, N, H, W, C) and give logits (K, N), the interface of
  `dcgan.class_discriminators`, so the family's steps do not change. The backbone runs once on
  all K * N images; its variables are closed over, so they are not among `variables`.
  """

  def __init__(self, backbone: Backbone, heads: projected.ProjectedDiscriminators):
    self.backbone = backbone
    self.heads = heads

  def _features(self, images: jax.Array) -> list[jax.Array]:
    flat = images.reshape((-1,) + images.shape[2:]).astype(jnp.float32)
    return [f.reshape(images.shape[:2] + f.shape[1:]) for f in self.backbone.features(flat)]

  def init(self, rng: jax.Array, images: jax.Array, update_stats: bool = False,
           train: bool = False) -> PyTree:
    del train  # no batch norm in the heads; the backbone always runs in evaluation mode
    return self.heads.init(rng, self._features(images), update_stats)

  def apply(self, variables: PyTree, images: jax.Array, update_stats: bool = False,
            train: bool = False, **apply_kwargs: Any) -> Any:
    del train
    return self.heads.apply(variables, self._features(images), update_stats, **apply_kwargs)


def build_class_discriminators(config: ml_collections.ConfigDict, num_classes: int,
                               image_shape: tuple[int, ...]) -> ProjectedClassDiscriminators:
  """The K projected discriminators of `config`, loading its backbone.

  Records the backbone's checksum in `config.model.projected.backbone_sha256` when empty; a
  config that names another checksum (a saved run whose backbone changed since) is refused.
  """
  options = config.model.projected
  backbone = load_backbone(options.backbone)
  if options.backbone_sha256 and options.backbone_sha256 != backbone.sha256:
    raise ConfigError(
        f"{BACKBONE_FIELD}={options.backbone!r} now holds another network (sha256 "
        f"{backbone.sha256[:16]}...) than the one this run was configured or trained with "
        f"(config.model.projected.backbone_sha256={options.backbone_sha256[:16]}...)")
  options.backbone_sha256 = backbone.sha256
  channels = backbone.variables["batch_stats"]["whiten_kernel"].shape[2]
  if image_shape[-1] != channels:
    raise ConfigError(f"{BACKBONE_FIELD}={options.backbone!r} reads {channels}-channel images; "
                      f"this run's have {image_shape[-1]}")
  heads = projected.ProjectedDiscriminators(
      num_classes=num_classes, mix_channels=options.mix_channels, width=config.model.d_width,
      spectral_norm=options.spectral_norm)
  return ProjectedClassDiscriminators(backbone, heads)
