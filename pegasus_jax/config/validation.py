"""Check a training config before anything is compiled or loaded.

The loop's and the data's fields are checked here; the family's own fields by the family
(`Family.check_config`), and each entry of `config.evals` by its evaluator. Every error is a
`ConfigError` (a ValueError) that names the field (e.g. `config.model.d_norm`) and says what is
allowed, so a typo costs seconds, not an hour of accelerator time.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from pegasus_jax import families
from pegasus_jax.config import checks
from pegasus_jax.config.defaults import flatten_config
from pegasus_jax.data.spec import SAMPLERS, TRANSFORMS
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import evaluators
from pegasus_jax.run import precision


def _classes(value: Any) -> str | None:
  if isinstance(value, str):
    return "must be a tuple of class names or ids, e.g. ('horse', 'bird'), not a string"
  if not isinstance(value, (tuple, list)) or not value:
    return "must be a non-empty tuple of class names or ids, e.g. ('horse', 'bird')"
  for item in value:
    if isinstance(item, bool) or not isinstance(item, (str, int)) or item == "":
      return f"has {item!r}; each entry must be a class name, an id, or 'a+b' for a union"
  return None


COMMON_CHECKS: dict[str, checks.Check] = {
    "seed": checks.seed,
    "total_steps": checks.positive_int,
    "batch_size": checks.positive_int,
    "log_every": checks.positive_int,
    "sample_every": checks.positive_int,
    "checkpoint_every": checks.positive_int,
    "keep_checkpoints": checks.positive_int,
    "num_sample_images": checks.positive_int,
    "prefetch": checks.positive_int,
    "precision": checks.one_of(*precision.PRECISIONS),
    "eval_every": checks.non_negative_int,
    "best_metric": checks.string,
    "best_mode": checks.one_of("max", "min"),
    "data.name": checks.non_empty_str,
    "data.sampler": checks.one_of(*SAMPLERS),
    "data.classes": _classes,
    "data.split": checks.non_empty_str,
    "data.data_dir": checks.optional_str,
    "data.path": checks.optional_str,  # required (and must exist) for 'image_folder': see below
    "data.download": checks.boolean,
    "data.random_flip": checks.boolean,
    "data.image_size": checks.positive_int,
    "data.channels": checks.one_of(1, 3),
    "data.transform": checks.one_of(*TRANSFORMS),
}

OPEN_SECTIONS = ("evals.",)  # free-form: each entry is checked by its evaluator


def validate_config(config: ml_collections.ConfigDict, num_devices: int = 1,
                    num_processes: int = 1) -> None:
  """Raise ConfigError naming the first bad field; return None when the config can run."""
  family_name = config.get("family")
  if not isinstance(family_name, str) or not family_name:
    raise ConfigError(f"config.family={family_name!r} must be a non-empty string")
  family = families.family_class(family_name)
  flat = flatten_config(config)
  known = set(flatten_config(family.default_config()))

  def closed(names):
    return {n for n in names if not n.startswith(OPEN_SECTIONS)}

  unknown = sorted(closed(flat) - known)
  if unknown:
    raise ConfigError(
        f"unknown config field(s) {['config.' + u for u in unknown]} for family "
        f"{family_name!r}; valid fields: {sorted('config.' + k for k in closed(known))}")
  missing = sorted(closed(known) - set(flat))
  if missing:
    raise ConfigError(f"config is missing field(s) {['config.' + m for m in missing]}")
  checks.run_checks(flat, COMMON_CHECKS)
  family.check_config(config)
  evaluators.check_evals(config)
  _check_image_folder(config)
  if config.best_metric and not config.eval_every:
    raise ConfigError(f"config.best_metric={config.best_metric!r} needs config.eval_every > 0 "
                      "(the evaluation that produces it); set --config.best_metric='' to turn "
                      "best-checkpoint keeping off")
  if config.batch_size % num_devices:
    raise ConfigError(
        f"config.batch_size={config.batch_size} must be divisible by the {num_devices} devices "
        f"the batch is split over (e.g. {num_devices * max(1, config.batch_size // num_devices)})")
  if config.batch_size % num_processes:
    raise ConfigError(f"config.batch_size={config.batch_size} must be divisible by the "
                      f"{num_processes} processes (hosts) that each load a share of it")


def _check_image_folder(config: ml_collections.ConfigDict) -> None:
  """data.name='image_folder' needs data.path, an existing directory (checked before compiling)."""
  if config.data.name != "image_folder":
    return
  if not config.data.path:
    raise ConfigError("config.data.path is required when config.data.name='image_folder': pass "
                      "--config.data.path=DIR, a folder of JPEG/PNG images")
  if not os.path.isdir(config.data.path):
    raise ConfigError(
        f"config.data.path={config.data.path!r} is not an existing directory (resolved to "
        f"{os.path.abspath(config.data.path)}; relative paths are relative to the current "
        "directory)")
