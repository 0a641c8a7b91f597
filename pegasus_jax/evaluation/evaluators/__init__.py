"""Periodic evaluations, chosen by the config (as big_vision does), not by the family.

`config.evals.NAME = ConfigDict(type=TYPE, **options)`; every `config.eval_every` steps the loop
runs each one on the current state and logs the scalars it returns ('eval/...'). An evaluator
type is a module here, listed in `_TYPES`, with

- `NAME`: its type name (`config.evals.<entry>.type`);
- `OPTIONS`: its options with defaults (an option not listed is a ConfigError);
- `CHECKS`: {option: check} (`pegasus_jax.config.checks`);
- `create(config, options, family, info) -> Evaluator`: built once before the first step (loads
  classifiers, real-image statistics, held-out data), checking the family capability it needs.

An entry whose `enabled_by` option (e.g. `classifier`) is empty is off: GAN configs carry a
classifier-metrics entry that one flag turns on.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Mapping

import ml_collections
from absl import logging

from pegasus_jax import registry
from pegasus_jax.config import checks
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation.evaluators import (
    accuracy,
    label_preservation,
    linear_probe,
    sample_quality,
    toy_distance,
)

Evaluator = Callable[[Any], Mapping[str, float]]

_TYPES: dict[str, types.ModuleType] = registry.by_name((
    accuracy,  # held-out accuracy and calibration of a classifier run
    sample_quality,  # 'classifier_metrics': pegasus score, classifier IS, FCD of samples
    linear_probe,  # frozen-encoder probe accuracy (Encodes runs: BiGAN)
    toy_distance,  # W1 and mode coverage of 1-D samples (configs/toy1d.py)
    label_preservation,  # does a translation keep the digit (CycleGAN)
), attribute="NAME")


def _entries(config: ml_collections.ConfigDict):
  evals = config.get("evals") or {}
  for name, entry in evals.items():
    if not isinstance(entry, (dict, ml_collections.ConfigDict)) or "type" not in entry:
      raise ConfigError(f"config.evals.{name} must be a ConfigDict with a 'type' "
                        f"(one of {sorted(_TYPES)})")
    if entry["type"] not in _TYPES:
      raise ConfigError(f"config.evals.{name}.type={entry['type']!r} is unknown; valid: "
                        f"{sorted(_TYPES)}")
    yield name, entry, _TYPES[entry["type"]]


def _options(name: str, entry: Mapping[str, Any], module: types.ModuleType) -> dict[str, Any]:
  unknown = sorted(set(entry) - set(module.OPTIONS) - {"type"})
  if unknown:
    raise ConfigError(f"config.evals.{name} has unknown option(s) {unknown}; "
                      f"type {entry['type']!r} takes {sorted(module.OPTIONS)}")
  options = dict(module.OPTIONS)
  options.update({k: v for k, v in entry.items() if k != "type"})
  return options


def _enabled(options: Mapping[str, Any], module: types.ModuleType) -> bool:
  switch = getattr(module, "ENABLED_BY", None)
  return switch is None or bool(options[switch])


def check_evals(config: ml_collections.ConfigDict) -> None:
  """ConfigError for an unknown type or option, or a bad option value."""
  enabled = []
  for name, entry, module in _entries(config):
    options = _options(name, entry, module)
    checks.run_checks({f"evals.{name}.{k}": v for k, v in options.items()},
                      {f"evals.{name}.{k}": c for k, c in module.CHECKS.items()})
    if _enabled(options, module):
      enabled.append(name)
  if config.eval_every and not enabled:
    raise ConfigError(
        f"config.eval_every={config.eval_every} but no evaluation is on: configure one in "
        "config.evals (GAN configs: --config.evals.classifier_metrics.classifier="
        "CLASSIFIER_WORKDIR, a run of configs/classifier.py), or set eval_every=0")


def create(config: ml_collections.ConfigDict, family: Any, info: DataInfo
           ) -> Evaluator | None:
  """One callable running every enabled evaluation (None when eval_every is 0 or none is on)."""
  if not config.eval_every:
    return None
  built: list[tuple[str, Evaluator]] = []
  for name, entry, module in _entries(config):
    options = _options(name, entry, module)
    if not _enabled(options, module):
      logging.info("evaluation %s is off (%s is empty)", name, module.ENABLED_BY)
      continue
    built.append((name, module.create(config, options, family, info)))
  if not built:
    return None

  def evaluate(state: Any) -> dict[str, float]:
    scalars: dict[str, float] = {}
    for _, evaluator in built:
      scalars.update(evaluator(state))
    return scalars

  return evaluate
