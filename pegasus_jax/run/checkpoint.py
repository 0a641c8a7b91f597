"""Orbax checkpoints of the whole train state, plus the metadata a resume needs.

Layout: `WORKDIR/checkpoints/<step>/{state, meta}`. `state` is the family's train state pytree
(parameters, spectral-norm and batch-norm state, both optimiser states, step, RNG key); `meta`
is JSON: the config, the class labels, and the data position (for a step-indexed sampler the
position is a function of the step; it is recorded so a person can read where the run stood).
Orbax writes each step to a temporary directory and renames it when complete, and deletes old
steps only after a newer one is committed, so a crash mid-save never costs the last good one.

The training job (the one holding the workdir lock, `repair=True`) also cleans up after faults:
an unfinished step (`<step>.orbax-checkpoint-tmp*`, the job was killed mid-write) is reported
and removed, and a committed step that fails to restore (truncated or deleted array files) is
moved to `corrupt_checkpoints/` next to the checkpoint directory -- kept for inspection, and out
of the way, since Orbax would otherwise refuse to save that step again and count it towards
`keep`. Save errors (also those of an earlier asynchronous save) raise CheckpointSaveError.

The directory may be local or on object storage (`gs://`, see `paths`): Orbax takes the
`epath.Path`. On object storage Orbax writes a step in place and marks it complete with a
`commit_success.txt` (there is no atomic rename); a step without it is unfinished, and moving
a corrupt step aside is a copy and a delete.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from etils import epath

from pegasus_jax.config.defaults import flatten_config
from pegasus_jax.errors import UserError
from pegasus_jax.run import paths

# Always part of the compatibility signature; the family adds the fields that fix its
# parameters' shapes or meaning (`Family.signature_fields`), e.g. 'model', 'data.classes'.
COMMON_SIGNATURE_FIELDS = ("family",)


class IncompatibleCheckpointError(UserError, ValueError):
  """The workdir's checkpoints were made with a different model config."""


class CheckpointSaveError(UserError, RuntimeError):
  """Writing a checkpoint failed (disk full, permissions, ...); the job must not train on."""


TMP_SUFFIX = ".orbax-checkpoint-tmp"
COMMIT_MARKER = "commit_success.txt"  # Orbax's "this step is complete" on object storage


def unfinished_steps(directory: paths.PathLike) -> list[str]:
  """Names of step directories a killed job left half-written.

  Locally those carry Orbax's temporary suffix; on object storage they are step directories
  without Orbax's commit marker.
  """
  if paths.is_local(directory):
    if not os.path.isdir(directory):
      return []
    return sorted(name for name in os.listdir(directory) if TMP_SUFFIX in name)
  directory = paths.resolve(directory)
  if not directory.is_dir():
    return []
  return sorted(step.name for step in directory.iterdir()
                if step.name.isdigit() and not (step / COMMIT_MARKER).exists())


def _first_line(error: BaseException, limit: int = 300) -> str:
  """Tensorstore errors carry a page of JSON spec; the first line says what went wrong."""
  return str(error).strip().split("\n")[0][:limit]


def state_nbytes(abstract_state: Any) -> int:
  """Bytes of one saved state (array data only; Orbax adds a few KiB of metadata)."""
  return sum(int(x.size) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(abstract_state))


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json())


def check_compatible(saved: dict[str, Any], config: ml_collections.ConfigDict,
                     checkpoint_dir: str, signature_fields: tuple[str, ...],
                     defaults: ml_collections.ConfigDict | None = None) -> None:
  """Raise IncompatibleCheckpointError listing every signature field that differs.

  A field newer than the checkpoint is no difference when it is left off ('' / 0 / None: e.g.
  no guide classifier) or at its value in `defaults` (the family's default config, whose new
  fields reproduce what the code did before them, e.g. model.d_arch='default').
  """
  old, new = flatten_config(saved), flatten_config(config_to_dict(config))
  default = flatten_config(config_to_dict(defaults)) if defaults is not None else {}
  fields = COMMON_SIGNATURE_FIELDS + tuple(signature_fields)
  newer_and_off = lambda name: name not in old and (
      not new.get(name) or (name in default and new.get(name) == default[name]))
  differences = [
      f"config.{name}: checkpoint has {old.get(name)!r}, config has {new.get(name)!r}"
      for name in sorted(set(old) | set(new))
      if any(name == f or name.startswith(f + ".") for f in fields)
      and old.get(name) != new.get(name) and not newer_and_off(name)]
  if differences:
    raise IncompatibleCheckpointError(
        f"the checkpoints in {checkpoint_dir} were written with a different model config; "
        "resuming would not fit the saved parameters:\n  " + "\n  ".join(differences)
        + "\nUse a new --workdir, or the config the run was started with.")


class CorruptCheckpointError(UserError, RuntimeError):
  """A restored state does not match the checksums saved with it (e.g. a flipped bit)."""


def _leaf_checksum(leaf: jax.Array) -> jax.Array:
  """Position-weighted sum of the leaf's bits, mod 2**32.

  Odd weights make every single-bit flip change the sum, and positions make swaps show.
  """
  leaf = jnp.ravel(leaf)
  if leaf.dtype == jnp.bool_:
    bits = leaf.astype(jnp.uint32)
  else:
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[leaf.dtype.itemsize]
    bits = jnp.ravel(jax.lax.bitcast_convert_type(leaf, unsigned)).astype(jnp.uint32)
  weights = 2 * jnp.arange(bits.size, dtype=jnp.uint32) + 1
  return jnp.sum(bits * weights, dtype=jnp.uint32)


_tree_checksums = jax.jit(lambda tree: jax.tree_util.tree_map(_leaf_checksum, tree))


def state_checksums(state: Any) -> dict[str, int]:
  """One checksum per leaf, computed on device (only the sums come back), keyed by tree path."""
  # Replicated outputs: each process reads its local copy (device_get would refuse a global
  # array that spans other hosts' devices).
  sums = jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_data(0)),
                                _tree_checksums(state))
  return {jax.tree_util.keystr(path): int(value)
          for path, value in jax.tree_util.tree_flatten_with_path(sums)[0]}


def verify_checksums(state: Any, expected: dict[str, int]) -> None:
  """Raise CorruptCheckpointError naming the leaves whose data changed since it was saved."""
  actual = state_checksums(state)
  wrong = sorted(name for name in expected if actual.get(name) != expected[name])
  if wrong:
    shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
    raise CorruptCheckpointError(f"checksum mismatch in {len(wrong)} array(s): {shown}")


class CheckpointStore:
  """A thin, typed wrapper over `ocp.CheckpointManager` for (state, meta) pairs.

  Each save records per-leaf checksums of the state in its metadata and each restore checks
  them, so damaged array data (which Orbax may decode without complaint) is never trained on.

  `repair=True` is for the one job that writes the directory (it holds the workdir lock):
  it removes unfinished steps and moves corrupt ones aside. Readers (sampling, tools) leave
  the directory as it is, since a live training job may be writing it.
  """

  def __init__(self, directory: paths.PathLike, keep: int, *, asynchronous: bool = True,
               repair: bool = False):
    self.directory: epath.Path = paths.resolve(directory)
    self.repair = repair
    if repair and jax.process_index() == 0:
      for name in unfinished_steps(self.directory):
        logging.warning("checkpoint %s/%s is unfinished (the job was killed while writing it); "
                        "removing it and resuming from the newest complete checkpoint",
                        self.directory, name)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=asynchronous,
        cleanup_tmp_directories=repair)
    self.manager = ocp.CheckpointManager(self.directory, options=options)
    self._pending: int | None = None  # the step of a save that may still be running

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Start saving (asynchronously); the previous save is finished (and checked) first.

    Raises CheckpointSaveError when this save cannot start or the previous one failed.
    """
    self.wait_until_finished()
    meta = dict(meta, checksums=state_checksums(state))
    try:
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    except Exception as e:  # pylint: disable=broad-except
      raise self._save_error(e, f"saving checkpoint {step}") from e
    self._pending = step

  def raise_if_save_failed(self) -> None:
    """Non-blocking: CheckpointSaveError as soon as a finished asynchronous save has failed.

    Cheap enough for every step (a local flag); without it a failed save shows only at the
    next one, `checkpoint_every` steps later.
    """
    if self._pending is not None and not self.manager.is_saving_in_progress():
      self.wait_until_finished()

  def _save_error(self, error: Exception, what: str) -> CheckpointSaveError:
    good = [s for s in self.all_steps() if (self.directory / str(s)).is_dir()]
    return CheckpointSaveError(
        f"{what} in {self.directory} failed ({type(error).__name__}: {_first_line(error)}). "
        "Training stopped "
        "rather than go on without checkpoints. The last complete checkpoint is "
        f"{'step ' + str(good[-1]) if good else 'none'}. Free disk space or fix the "
        "directory's permissions, then rerun the same command to resume.")

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
    """The state at `step`, laid out as `abstract_state` (shapes, dtypes, shardings).

    Raises CorruptCheckpointError when the data does not match the checksums saved with it.
    """
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
    if "checksums" in restored.meta:
      verify_checksums(restored.state, restored.meta["checksums"])
    return restored.state, restored.meta

  def read_meta(self, step: int) -> dict[str, Any]:
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

  def restore_latest(self, abstract_state: Any, config: ml_collections.ConfigDict | None = None,
                     signature_fields: tuple[str, ...] = (),
                     defaults: ml_collections.ConfigDict | None = None
                     ) -> tuple[Any, dict[str, Any], int] | None:
    """The newest checkpoint that restores, or None when there is none.

    A checkpoint that fails to restore (truncated or missing files) is skipped with a warning
    naming the problem, and the next older one is tried; an incompatible config is an error.
    With `repair`, the skipped steps are moved aside once an older one restored (when none
    restores, nothing is moved: that is more likely a code or config change than corruption).
    """
    steps = self.all_steps()
    bad: list[int] = []
    for step in reversed(steps):
      try:
        meta = self.read_meta(step)
      except Exception as e:  # unreadable metadata: treat the step as corrupt
        self._warn(step, "is unreadable", e)
        bad.append(step)
        continue
      if config is not None:
        check_compatible(meta.get("config", {}), config, self.directory, signature_fields,
                         defaults)
      try:
        state, meta = self.restore(step, abstract_state)
      except Exception as e:
        self._warn(step, "failed to restore", e)
        bad.append(step)
        continue
      if self.repair and bad:
        self._quarantine(bad)
      return state, meta, step
    if steps:
      raise RuntimeError(f"none of the checkpoints {steps} in {self.directory} could be "
                         "restored (see the warnings above); move them aside to start afresh")
    return None

  @property
  def corrupt_dir(self) -> epath.Path:
    return self.directory.parent / "corrupt_checkpoints"

  def _warn(self, step: int, problem: str, error: Exception) -> None:
    logging.warning("checkpoint %s/%d %s (%s: %s); trying an older one", self.directory, step,
                    problem, type(error).__name__, _first_line(error))

  def _quarantine(self, steps: list[int]) -> None:
    """Move corrupt steps aside, so they never block (or count towards `keep` in) later saves.

    On object storage a move is a copy and a delete (`paths.move_tree`).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if jax.process_index() == 0:
      paths.makedirs(self.corrupt_dir)
      for step in steps:
        target = self.corrupt_dir / f"{step}-{stamp}"
        paths.move_tree(self.directory / str(step), target)
        logging.warning("moved the corrupt checkpoint %d to %s", step, target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices("pegasus_jax checkpoint quarantine")
    self.manager.reload()

  def wait_until_finished(self) -> None:
    """Block until the pending save is committed; CheckpointSaveError if it failed."""
    pending, self._pending = self._pending, None
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      raise self._save_error(e, f"the asynchronous save of checkpoint {pending}") from e

  def close(self) -> None:
    self.manager.close()


BEST_DIR = "checkpoints_best"  # beside WORKDIR/checkpoints


class BestCheckpointStore:
  """The one best checkpoint by an evaluation scalar, in its own directory (keep = 1).

  Why a second manager rather than Orbax's `best_fn` on the main one: with `best_fn`,
  `max_to_keep` keeps the N *best* steps, so the newest one (the one a resume needs) can be
  deleted. Here `checkpoints/` keeps its "latest N" meaning and `checkpoints_best/` holds the
  best step so far; its metadata carries the metric and value, so a resumed run only replaces
  it with a better one.
  """

  def __init__(self, directory: paths.PathLike, metric: str, mode: str, *,
               asynchronous: bool = True):
    if mode not in ("max", "min"):
      raise ValueError(f"best_mode={mode!r} must be 'max' or 'min'")
    self.metric, self.mode = metric, mode
    self.store = CheckpointStore(directory, keep=1, asynchronous=asynchronous, repair=True)
    self.best_value: float | None = None
    self.best_step: int | None = None
    for step in reversed(self.store.all_steps()):
      try:
        best = self.store.read_meta(step).get("best", {})
      except Exception as e:  # pylint: disable=broad-except  # a corrupt one is replaced
        logging.warning("best checkpoint %s/%d is unreadable (%s); it will be replaced",
                        directory, step, e)
        continue
      if best.get("metric") == metric:
        self.best_value, self.best_step = float(best["value"]), step
      break

  @property
  def directory(self) -> epath.Path:
    return self.store.directory

  def is_better(self, value: float) -> bool:
    if not math.isfinite(value):
      return False
    if self.best_value is None:
      return True
    return value > self.best_value if self.mode == "max" else value < self.best_value

  def maybe_save(self, step: int, state: Any, meta: dict[str, Any],
                 evaluation: dict[str, float]) -> bool:
    """Save `state` when evaluation[metric] beats the best so far; True when it did."""
    if self.metric not in evaluation:
      raise KeyError(f"config.best_metric={self.metric!r} is not among the evaluation's "
                     f"scalars: {sorted(evaluation)}")
    value = float(evaluation[self.metric])
    if not self.is_better(value) or step == self.best_step:
      return False
    self.store.save(step, state, dict(meta, best={"metric": self.metric, "mode": self.mode,
                                                  "value": value, "step": step}))
    self.best_value, self.best_step = value, step
    logging.info("new best checkpoint at step %d: %s=%.6g (%s)", step, self.metric, value,
                 self.directory)
    return True

  def wait_until_finished(self) -> None:
    self.store.wait_until_finished()

  def close(self) -> None:
    self.store.close()


def replicated_abstract(tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """ShapeDtypeStructs of `tree` with one sharding for every leaf (restore targets)."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
