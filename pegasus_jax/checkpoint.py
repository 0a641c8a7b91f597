"""Orbax checkpoints of the whole train state, plus the metadata a resume needs.

Layout: `WORKDIR/checkpoints/<step>/{state, meta}`. `state` is the family's train state pytree
(parameters, spectral-norm and batch-norm state, both optimiser states, step, RNG key); `meta`
is JSON: the config, the class labels, and the data position (for a step-indexed sampler the
position is a function of the step; it is recorded so a person can read where the run stood).
Orbax writes each step to a temporary directory and renames it when complete, and deletes old
steps only after a newer one is committed, so a crash mid-save never costs the last good one.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

# Fields that fix the shapes or meaning of the saved parameters: a resume must not change them.
MODEL_SIGNATURE_FIELDS = ("family", "data.name", "data.classes", "model")


class IncompatibleCheckpointError(ValueError):
  """The workdir's checkpoints were made with a different model config."""


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json())


def _get(tree: dict[str, Any], dotted: str) -> Any:
  for part in dotted.split("."):
    tree = tree.get(part, {}) if isinstance(tree, dict) else {}
  return tree


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
  if isinstance(value, dict):
    out = {}
    for key, sub in value.items():
      out.update(_leaves(sub, f"{prefix}.{key}"))
    return out
  return {prefix: list(value) if isinstance(value, tuple) else value}


def check_compatible(saved: dict[str, Any], config: ml_collections.ConfigDict,
                     checkpoint_dir: str) -> None:
  """Raise IncompatibleCheckpointError listing every model field that differs."""
  current = config_to_dict(config)
  differences = []
  for field in MODEL_SIGNATURE_FIELDS:
    old, new = _leaves(_get(saved, field), field), _leaves(_get(current, field), field)
    for name in sorted(set(old) | set(new)):
      if old.get(name) != new.get(name):
        differences.append(f"config.{name}: checkpoint has {old.get(name)!r}, "
                           f"config has {new.get(name)!r}")
  if differences:
    raise IncompatibleCheckpointError(
        f"the checkpoints in {checkpoint_dir} were written with a different model config; "
        "resuming would not fit the saved parameters:\n  " + "\n  ".join(differences)
        + "\nUse a new --workdir, or the config the run was started with.")


class CheckpointStore:
  """A thin, typed wrapper over `ocp.CheckpointManager` for (state, meta) pairs."""

  def __init__(self, directory: str, keep: int, *, asynchronous: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=asynchronous)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Start saving (asynchronously); the previous save is finished first."""
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
    """The state at `step`, laid out as `abstract_state` (shapes, dtypes, shardings)."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
    return restored.state, restored.meta

  def read_meta(self, step: int) -> dict[str, Any]:
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

  def restore_latest(self, abstract_state: Any, config: ml_collections.ConfigDict | None = None
                     ) -> tuple[Any, dict[str, Any], int] | None:
    """The newest checkpoint that restores, or None when there is none.

    A checkpoint that fails to restore (truncated or missing files) is skipped with a warning
    naming the problem, and the next older one is tried; an incompatible config is an error.
    """
    steps = self.all_steps()
    for step in reversed(steps):
      try:
        meta = self.read_meta(step)
      except Exception as e:  # unreadable metadata: treat the step as corrupt
        logging.warning("checkpoint %s/%d is unreadable (%s: %s); trying an older one",
                        self.directory, step, type(e).__name__, e)
        continue
      if config is not None:
        check_compatible(meta.get("config", {}), config, self.directory)
      try:
        state, meta = self.restore(step, abstract_state)
      except Exception as e:
        logging.warning("checkpoint %s/%d failed to restore (%s: %s); trying an older one",
                        self.directory, step, type(e).__name__, e)
        continue
      return state, meta, step
    if steps:
      raise RuntimeError(f"none of the checkpoints {steps} in {self.directory} could be "
                         "restored (see the warnings above); move them aside to start afresh")
    return None

  def wait_until_finished(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def replicated_abstract(tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """ShapeDtypeStructs of `tree` with one sharding for every leaf (restore targets)."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
