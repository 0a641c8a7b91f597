"""Check a training config before anything is compiled or loaded.

Every error is a `ValueError` that names the field (e.g. `config.model.d_norm`) and says what is
allowed, so a typo costs seconds, not an hour of accelerator time.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import ml_collections

from pegasus_jax import losses
from pegasus_jax.config_defaults import defaults_for, flatten_config
from pegasus_jax.models import dcgan, resnet

Check = Callable[[Any], str | None]  # returns a complaint, or None when the value is fine


def _positive_int(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    return "must be a positive integer"
  return None


def _non_negative_int(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    return "must be an integer >= 0"
  return None


def _seed(value: Any) -> str | None:
  # PRNGKey and NumPy's generators take unsigned 32-bit seeds without surprises.
  if _non_negative_int(value) or value >= 2**32:
    return "must be an integer in [0, 2**32)"
  return None


def _positive_float(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and value > 0):
    return "must be a finite number > 0"
  return None


def _unit_interval(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
    return "must be a number in [0, 1)"
  return None


def _non_negative_float(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and value >= 0):
    return "must be a finite number >= 0"
  return None


def _one_of(*choices: Any) -> Check:
  def check(value: Any) -> str | None:
    return None if value in choices else f"must be one of {list(choices)}"
  return check


def _boolean(value: Any) -> str | None:
  return None if isinstance(value, bool) else "must be True or False"


def _optional_str(value: Any) -> str | None:
  return None if value is None or isinstance(value, str) else "must be a path string or None"


def _non_empty_str(value: Any) -> str | None:
  return None if isinstance(value, str) and value else "must be a non-empty string"


def _image_size(value: Any) -> str | None:
  if _positive_int(value):
    return _positive_int(value)
  try:
    dcgan.num_resolution_blocks(value)
  except ValueError:
    return "must be a power of two >= 8 (32, 64, 128, ...) for the DCGAN models"
  return None


def _resnet_depth(value: Any) -> str | None:
  if _positive_int(value):
    return _positive_int(value)
  try:
    resnet.blocks_per_stage(value)
  except ValueError:
    return "must be 6n + 2 (8, 14, 20, 32, 56, ...) for the CIFAR ResNet"
  return None


def _str(value: Any) -> str | None:
  return None if isinstance(value, str) else "must be a string ('' for none)"


def _classes(value: Any) -> str | None:
  if isinstance(value, str):
    return "must be a tuple of class names or ids, e.g. ('horse', 'bird'), not a string"
  if not isinstance(value, (tuple, list)) or not value:
    return "must be a non-empty tuple of class names or ids, e.g. ('horse', 'bird')"
  for item in value:
    if isinstance(item, bool) or not isinstance(item, (str, int)) or item == "":
      return f"has {item!r}; each entry must be a class name, an id, or 'a+b' for a union"
  return None


FIELD_CHECKS: dict[str, Check] = {
    "family": _non_empty_str,  # checked against the registry in `families.create`
    "seed": _seed,
    "total_steps": _positive_int,
    "batch_size": _positive_int,
    "n_disc": _positive_int,
    "loss": _one_of(*losses.GAN_LOSSES),
    "log_every": _positive_int,
    "sample_every": _positive_int,
    "checkpoint_every": _positive_int,
    "keep_checkpoints": _positive_int,
    "num_sample_images": _positive_int,
    "prefetch": _positive_int,
    "data.name": _non_empty_str,
    "data.classes": _classes,
    "data.split": _non_empty_str,
    "data.data_dir": _optional_str,
    "data.path": _optional_str,  # required (and must exist) for 'image_folder': see below
    "data.download": _boolean,
    "data.random_flip": _boolean,
    "model.image_size": _image_size,
    "model.channels": _one_of(1, 3),
    "model.z_dim": _positive_int,
    "model.g_width": _positive_int,
    "model.d_width": _positive_int,
    "model.d_norm": _one_of(*dcgan.DISCRIMINATOR_NORMS),
    "model.g_activation": _one_of(*dcgan.ACTIVATIONS),
    "model.d_activation": _one_of(*dcgan.ACTIVATIONS),
    "model.leaky_slope": _non_negative_float,
    "optimizer.g_lr": _positive_float,
    "optimizer.d_lr": _positive_float,
    "optimizer.b1": _unit_interval,
    "optimizer.b2": _unit_interval,
    "eval_every": _non_negative_int,
    "eval_num_samples": _positive_int,
    "eval_classifier": _str,
    "eval_split": _non_empty_str,
    "best_metric": _str,
    "best_mode": _one_of("max", "min"),
    # family 'classifier' (config_defaults.classifier_config)
    "model.depth": _resnet_depth,
    "model.width": _positive_int,
    "optimizer.lr": _positive_float,
    "optimizer.momentum": _unit_interval,
    "optimizer.nesterov": _boolean,
    "optimizer.weight_decay": _non_negative_float,
    "optimizer.schedule": _one_of("cosine", "constant"),
    "optimizer.warmup_steps": _non_negative_int,
    "optimizer.label_smoothing": _unit_interval,
    "augment.crop_padding": _non_negative_int,
    "augment.flip": _boolean,
}


def validate_config(config: ml_collections.ConfigDict, num_devices: int = 1,
                    num_processes: int = 1) -> None:
  """Raise ValueError naming the first bad field; return None when the config can run."""
  flat = flatten_config(config)
  family = config.get("family")
  if not isinstance(family, str) or not family:
    raise ValueError(f"config.family={family!r} must be a non-empty string")
  # Each family's field set: the GAN fields, or e.g. the classifier's own model/optimizer.
  known = set(flatten_config(defaults_for(family)))
  unknown = sorted(set(flat) - known)
  if unknown:
    raise ValueError(
        f"unknown config field(s) {['config.' + u for u in unknown]}; valid fields: "
        f"{sorted('config.' + k for k in known)}")
  missing = sorted(known - set(flat))
  if missing:
    raise ValueError(f"config is missing field(s) {['config.' + m for m in missing]}")
  for name, check in FIELD_CHECKS.items():
    if name not in known:
      continue
    complaint = check(flat[name])
    if complaint:
      raise ValueError(f"config.{name}={flat[name]!r} {complaint}")
  _check_image_folder(config)
  _check_evaluation(config)
  if config.batch_size % num_devices:
    raise ValueError(
        f"config.batch_size={config.batch_size} must be divisible by the {num_devices} devices "
        f"the batch is split over (e.g. {num_devices * max(1, config.batch_size // num_devices)})")
  if config.batch_size % num_processes:
    raise ValueError(f"config.batch_size={config.batch_size} must be divisible by the "
                     f"{num_processes} processes (hosts) that each load a share of it")


def _check_image_folder(config: ml_collections.ConfigDict) -> None:
  """data.name='image_folder' needs data.path, an existing directory (checked before compiling)."""
  if config.data.name != "image_folder":
    return
  if not config.data.path:
    raise ValueError("config.data.path is required when config.data.name='image_folder': pass "
                     "--config.data.path=DIR, a folder of JPEG/PNG images")
  if not os.path.isdir(config.data.path):
    raise ValueError(
        f"config.data.path={config.data.path!r} is not an existing directory (resolved to "
        f"{os.path.abspath(config.data.path)}; relative paths are relative to the current "
        "directory)")


def _check_evaluation(config: ml_collections.ConfigDict) -> None:
  """A best checkpoint needs an evaluation to rank by; GAN evaluation needs a classifier."""
  if config.best_metric and not config.eval_every:
    raise ValueError(f"config.best_metric={config.best_metric!r} needs config.eval_every > 0 "
                     "(the evaluation that produces it); set --config.best_metric='' to turn "
                     "best-checkpoint keeping off")
  if config.family != "classifier" and config.eval_every and not config.eval_classifier:
    raise ValueError(
        f"config.eval_every={config.eval_every} for family {config.family!r} needs "
        "config.eval_classifier=CLASSIFIER_WORKDIR (a run of configs/classifier.py)")
