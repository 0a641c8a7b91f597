"""One writer per workdir: a lock file naming the job that holds it.

Two jobs training into one workdir would overwrite each other's checkpoints and, worse, each
would delete the other's "old" steps. The lock is `WORKDIR/pegasus_jax.lock`, a small JSON file
(host, pid, start time, command line) created atomically with `os.link`, which also works on
NFS. A lock whose holder ran on this host and is no longer alive (killed with SIGKILL, the
machine's OOM killer, ...) is stale: it is taken over with a warning. A lock held from another
host cannot be checked from here, so it is refused with a message saying how to remove it.
Only process 0 of a multi-host job takes the lock (the caller decides; see `train.py`).

On object storage (`gs://`) there is no link, rename or flock; GCS instead offers generation
preconditions, which make every step of the same protocol a single atomic request:
create-if-absent (`if_generation_match=0`: exactly one of two racing jobs gets the lock), take
over a stale lock only if it is still the generation that was judged stale (a racing job that
took it first makes ours fail), and release only our own generation. `open_lock` picks the
kind from the path.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import uuid
from typing import Any

from absl import logging

from pegasus_jax.errors import UserError
from pegasus_jax.run import paths

LOCK_NAME = "pegasus_jax.lock"


class WorkdirLockedError(UserError, RuntimeError):
  """Another live job (or one on another host) holds the workdir's lock."""


class WorkdirNotWritableError(UserError, OSError):
  """The workdir cannot be written (permissions, read-only or full file system)."""


def _process_start_ticks(pid: int) -> int | None:
  """The kernel's start time of `pid` (clock ticks since boot), to tell a reused pid apart."""
  try:
    with open(f"/proc/{pid}/stat", "rb") as f:
      stat = f.read().decode("ascii", "replace")
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22 overall
  except (OSError, ValueError, IndexError):
    return None


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
  """Whether `pid` runs on this host (and, when known, is the same process that started then)."""
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # someone else's live process
  if start_ticks is not None:
    now = _process_start_ticks(pid)
    if now is not None and now != start_ticks:
      return False  # the pid was reused by an unrelated process
  return True


def describe(holder: dict[str, Any]) -> str:
  return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started "
          f"{holder.get('start_time', '?')}, command {' '.join(holder.get('argv', [])) or '?'}")


def _holder_info() -> dict[str, Any]:
  """What a lock says about the job holding it (the token tells our own lock apart)."""
  return {
      "host": socket.gethostname(), "pid": os.getpid(),
      "pid_start_ticks": _process_start_ticks(os.getpid()),
      "start_time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "argv": list(sys.argv), "token": uuid.uuid4().hex,
  }


def _is_stale(holder: dict[str, Any], host: str) -> bool:
  """A holder on this host whose process is gone; one on another host cannot be judged."""
  return (holder.get("host") == host and isinstance(holder.get("pid"), int)
          and not pid_alive(holder["pid"], holder.get("pid_start_ticks")))


def _locked_error(workdir: str, holder: dict[str, Any], remove: str) -> WorkdirLockedError:
  return WorkdirLockedError(
      f"the workdir {workdir} is in use by another training job ({describe(holder)})."
      f" Wait for it to finish, stop it, or use another --workdir. If that job is "
      f"certainly gone (e.g. it ran on another machine), {remove}.")


class WorkdirLock:
  """`with WorkdirLock(workdir):` -- hold a local workdir's lock for the duration of a job."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_NAME)
    self.info = _holder_info()
    self.held = False

  def _read_holder(self) -> dict[str, Any] | None:
    try:
      with open(self.path) as f:
        return json.load(f)
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return {}  # unreadable or half-written

  def _is_stale(self, holder: dict[str, Any]) -> bool:
    return _is_stale(holder, self.info["host"])

  def acquire(self) -> None:
    """Take the lock, or raise WorkdirLockedError naming its holder."""
    tmp = f"{self.path}.{self.info['host']}.{os.getpid()}.tmp"
    try:
      with open(tmp, "w") as f:
        json.dump(self.info, f)
        f.flush()
        os.fsync(f.fileno())
    except OSError as e:
      with contextlib.suppress(OSError):
        os.remove(tmp)
      raise WorkdirNotWritableError(
          e.errno, f"cannot write to the workdir {self.workdir} ({os.strerror(e.errno or 0) or e}"
          f"); check its permissions and free space, or pass another --workdir") from e
    try:
      for _ in range(3):
        try:
          os.link(tmp, self.path)  # atomic: exactly one job creates the lock with its content
          self.held = True
          return
        except FileExistsError:
          pass
        holder = self._read_holder()
        if holder is None:
          continue  # released in between: try again
        if self._is_stale(holder):
          if self._take_over(holder, tmp):
            return
          continue
        raise _locked_error(self.workdir, holder, f"delete {self.path}")
      raise WorkdirLockedError(f"could not take the lock {self.path} (it keeps changing)")
    finally:
      with contextlib.suppress(OSError):
        os.remove(tmp)

  def _take_over(self, stale: dict[str, Any], tmp: str) -> bool:
    """Replace a stale lock with ours; a guard file serialises racing jobs on this host."""
    with open(self.path + ".guard", "a") as guard:
      fcntl.flock(guard, fcntl.LOCK_EX)
      try:
        if self._read_holder() != stale:
          return False  # somebody else changed it first: look again
        os.replace(tmp, self.path)
      finally:
        fcntl.flock(guard, fcntl.LOCK_UN)
    logging.warning("Took over the stale lock %s left by a job that is no longer running (%s).",
                    self.path, describe(stale))
    self.held = True
    return True

  def release(self) -> None:
    """Remove the lock if it is still ours (never someone else's)."""
    if not self.held:
      return
    self.held = False
    holder = self._read_holder()
    if holder and holder.get("token") == self.info["token"]:
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


class ObjectStoreLock:
  """The same lock on object storage (gs://), built on GCS generation preconditions.

  Each step is one conditional request, so no two jobs can both believe they hold it:
  - acquire: create the lock object only if absent (`if_generation_match=0`);
  - take over a stale lock: overwrite it only if it is still the generation we read and
    judged stale (`if_generation_match=<that generation>`);
  - release: delete it only if it is still our generation.
  A lock object stays until released, so a killed job's lock is judged as on a local disk:
  same host and its process gone = stale; another host = refused, with the command that
  removes it. (A preempted TPU VM that comes back under the same host name sees its old pid
  gone and takes over.)
  """

  def __init__(self, workdir: str):
    from google.cloud import storage  # pylint: disable=g-import-not-at-top  # gs:// only

    self.workdir = str(workdir).rstrip("/")
    self.path = f"{self.workdir}/{LOCK_NAME}"
    bucket, _, name = self.path[len("gs://"):].partition("/")
    try:
      client = storage.Client()  # honours STORAGE_EMULATOR_HOST
    except Exception as e:  # pylint: disable=broad-except  # google.auth: no credentials found
      raise WorkdirNotWritableError(
          errno.EACCES, f"cannot open {self.workdir} ({type(e).__name__}: {e}); on a Cloud "
          "VM check its service account, elsewhere run `gcloud auth application-default "
          "login`") from e
    self._blob = client.bucket(bucket).blob(name)
    self.info = _holder_info()
    self.generation: int | None = None
    self.held = False

  def _read_holder(self) -> tuple[dict[str, Any], int] | None:
    """(holder, generation) of the current lock object, None when there is none."""
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    blob = self._blob.bucket.blob(self._blob.name)
    try:
      data = blob.download_as_bytes()
    except exceptions.NotFound:
      return None
    try:
      holder = json.loads(data)
    except ValueError:
      holder = {}
    return (holder if isinstance(holder, dict) else {}), int(blob.generation)

  def _write(self, if_generation_match: int) -> bool:
    """Upload our holder info under the precondition; False when another writer won."""
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._blob.upload_from_string(json.dumps(self.info), content_type="application/json",
                                    if_generation_match=if_generation_match)
    except exceptions.PreconditionFailed:
      return False
    except Exception as e:  # pylint: disable=broad-except  # HTTP, connection, auth errors
      raise WorkdirNotWritableError(
          errno.EACCES, f"cannot write the lock {self.path} ({type(e).__name__}: {e}); check "
          "the bucket's name and your credentials (gcloud auth application-default login), "
          "or pass another --workdir") from e
    self.generation = int(self._blob.generation)
    self.held = True
    return True

  def acquire(self) -> None:
    """Take the lock, or raise WorkdirLockedError naming its holder."""
    for _ in range(3):
      if self._write(if_generation_match=0):
        return
      current = self._read_holder()
      if current is None:
        continue  # released in between: try again
      holder, generation = current
      if _is_stale(holder, self.info["host"]):
        if self._write(if_generation_match=generation):
          logging.warning("Took over the stale lock %s left by a job that is no longer running "
                          "(%s).", self.path, describe(holder))
          return
        continue  # another job took it over first: look again
      raise _locked_error(self.workdir, holder, f"remove it: gcloud storage rm {self.path}")
    raise WorkdirLockedError(f"could not take the lock {self.path} (it keeps changing)")

  def release(self) -> None:
    """Delete the lock if it is still our generation (never someone else's)."""
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    if not self.held:
      return
    self.held = False
    current = self._read_holder()
    if current is None or current[0].get("token") != self.info["token"]:
      logging.warning("the lock %s is no longer ours; leaving it", self.path)
      return
    try:
      self._blob.delete(if_generation_match=self.generation)
    except (exceptions.PreconditionFailed, exceptions.NotFound):
      logging.warning("the lock %s changed before release; leaving it", self.path)

  def __enter__(self) -> "ObjectStoreLock":
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def open_lock(workdir: str) -> WorkdirLock | ObjectStoreLock:
  """The workdir's lock, of the kind its storage supports (not yet acquired)."""
  return ObjectStoreLock(workdir) if paths.is_object_storage(workdir) else WorkdirLock(workdir)


def check_writable(directory: str) -> None:
  """Write (and fsync) then remove a probe file: fail now, not at the first checkpoint an hour in.

  On object storage the probe is a small object, written and deleted the same way.
  """
  probe = os.path.join(os.fspath(directory),
                       f".write_probe.{socket.gethostname()}.{os.getpid()}")
  if paths.is_object_storage(directory):
    try:
      target = paths.resolve(probe)
      target.write_bytes(b"\0" * 4096)
      target.unlink()
    except Exception as e:  # pylint: disable=broad-except  # gcsfs raises OSError or HTTP errors
      raise WorkdirNotWritableError(
          getattr(e, "errno", None) or errno.EACCES,
          f"cannot write to {directory} ({type(e).__name__}: {e}); check the bucket's name, "
          "your credentials and permissions, or pass another --workdir") from e
    return
  try:
    with open(probe, "wb") as f:
      f.write(b"\0" * 4096)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    raise WorkdirNotWritableError(
        e.errno, f"cannot write to {directory} ({os.strerror(e.errno or 0) or e}); check its "
        "permissions and free space, or pass another --workdir") from e
  finally:
    with contextlib.suppress(OSError):
      os.remove(probe)


def check_free_space(directory: str, needed_bytes: int, what: str) -> None:
  """Raise when the file system lacks room for `needed_bytes` (e.g. one checkpoint).

  Free space is a local notion: object storage has none to measure, so it is skipped there
  (with a log line), not faked; a failed save still stops the job with CheckpointSaveError.
  """
  if paths.is_object_storage(directory):
    logging.info("Not checking free space under %s: object storage has no free-space notion.",
                 directory)
    return
  try:
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
  except OSError:
    return  # no statvfs (some FUSE file systems): the save itself will tell
  if free < needed_bytes:
    raise WorkdirNotWritableError(
        errno.ENOSPC, f"only {free / 2**20:.1f} MiB free under {directory}, but {what} needs "
        f"about {needed_bytes / 2**20:.1f} MiB; free some space or pass another --workdir")
