"""The training loop's lifecycle around the steps: the workdir made and locked, the config
written, SIGTERM/SIGINT turned into a clean stop, the last checkpoint save waited for.

Kept out of `pegasus_jax.train` so the loop reads as the loop; every helper here is about the
run's files and process, not about any family.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from pegasus_jax.run import checkpoint, paths, workdir_lock


class PreemptionWatcher:
  """Turns SIGTERM/SIGINT into a flag the loop reads once per step (no device sync).

  Single process: Python signal handlers (a second signal of the same kind acts at once, as
  without this class). Multi-host: JAX's preemption service owns SIGTERM, and
  `CheckpointManager.reached_preemption(step)` makes every process stop at the same step.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, store: checkpoint.CheckpointStore):
    self.store = store
    self.reason: str | None = None
    self._multihost = jax.process_count() > 1
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> "PreemptionWatcher":
    if not self._multihost and threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, previous in self._previous.items():
      signal.signal(sig, previous)
    self._previous.clear()

  def _handle(self, signum: int, frame: Any) -> None:
    if self.reason is not None:  # asked twice: behave as if we had never installed a handler
      previous = self._previous.get(signum, signal.SIG_DFL)
      signal.signal(signum, previous)
      if callable(previous):
        previous(signum, frame)
      else:
        os.kill(os.getpid(), signum)
      return
    self.reason = signal.Signals(signum).name  # logged by the loop, not here

  def should_stop(self, step: int) -> bool:
    if self.reason is None and self._multihost and self.store.manager.reached_preemption(step):
      self.reason = "preemption notice"
    return self.reason is not None


def lock_workdir(workdir: str
                  ) -> workdir_lock.WorkdirLock | workdir_lock.ObjectStoreLock | None:
  """Process 0 takes the workdir lock; all processes fail together if it cannot."""
  lock, error = None, None
  if jax.process_index() == 0:
    try:
      lock = workdir_lock.open_lock(workdir)  # on gs:// this may already fail (credentials)
      lock.acquire()
    except (workdir_lock.WorkdirLockedError, OSError) as e:
      error = e
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    ok = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
    if not ok and error is None:
      raise workdir_lock.WorkdirLockedError(
          f"process 0 could not lock the workdir {workdir}; see its log")
  if error is not None:
    raise error
  return lock


def prepare_workdir(workdir: str) -> str:
  """Create the workdir and its checkpoint directory; a clear error if that is impossible.

  (Object storage has no directories to create: the write probe and the lock find out.)
  """
  checkpoint_dir = os.path.join(workdir, "checkpoints")
  try:
    paths.makedirs(checkpoint_dir)
  except OSError as e:
    raise workdir_lock.WorkdirNotWritableError(
        e.errno, f"cannot create {checkpoint_dir} ({e.strerror or e}); check the --workdir "
        "path and its permissions") from e
  return checkpoint_dir


def finish_saves(store: checkpoint.CheckpointStore, error: BaseException | None) -> None:
  """Wait for the last save; its failure is the job's error unless another one came first."""
  try:
    store.wait_until_finished()
  except checkpoint.CheckpointSaveError as e:
    if error is None:
      raise
    logging.error("%s", e)
  try:
    store.close()
  except Exception as e:  # pylint: disable=broad-except  # already reported above
    logging.warning("closing the checkpoint manager: %s: %s", type(e).__name__, e)


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """WORKDIR/config.json (process 0): the run's config, readable without this code."""
  if jax.process_index() == 0:
    paths.write_text(os.path.join(workdir, "config.json"),
                     json.dumps(checkpoint.config_to_dict(config), indent=2, sort_keys=True))
