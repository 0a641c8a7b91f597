"""Every path the job and the tools touch, local folders and object storage (gs://) alike.

A workdir, a checkpoint directory, a sample PNG or an evaluation cache may be a local path or a
`gs://bucket/prefix` URI; both become an `etils.epath.Path`, the path type Orbax itself uses.
Local paths keep today's behaviour (absolute, `os` calls where atomic renames and fsync
matter); object storage goes through fsspec (gcsfs) for files and tensorstore's own GCS driver
for Orbax's array data.

Why fsspec and not TensorFlow's gfile for gs:// (etils' default when TensorFlow is installed):
one client that also serves the workdir lock's create-if-absent writes, and one that honours
`STORAGE_EMULATOR_HOST`, so the very code that writes to a bucket is the code the tests run
against a local GCS emulator (gfile's GCS endpoint is fixed to Google's servers).
`EPATH_USE_TF=true` in the environment restores etils' choice.

`STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT` (the variable google-cloud-storage and gcsfs
read) points the whole stack at an emulator: see `configure_emulator`.
"""

from __future__ import annotations

import io
import os
import shutil
from typing import Union

import fsspec
import numpy as np
from etils import epath

# Before any gs:// path is used (etils reads it on every call): fsspec, not gfile; see above.
os.environ.setdefault("EPATH_USE_TF", "false")
# No cached listings: a bucket changes under this process (tensorstore writes Orbax's array
# data outside fsspec; other hosts and processes write too), and Orbax lists to find steps.
fsspec.config.conf.setdefault("gcs", {}).setdefault("use_listings_cache", False)

OBJECT_STORE_SCHEMES = ("gs://",)
PathLike = Union[str, os.PathLike]


def is_object_storage(path: PathLike) -> bool:
  """True for `gs://...`: no directories, no rename, no fsync, no free-space notion."""
  return os.fspath(path).startswith(OBJECT_STORE_SCHEMES)


def is_local(path: PathLike) -> bool:
  return not is_object_storage(path)


def resolve(path: PathLike) -> epath.Path:
  """`path` as an epath.Path: local paths made absolute (as `os.path.abspath` did), URIs kept."""
  if is_object_storage(path):
    configure_emulator()
    return epath.Path(os.fspath(path).rstrip("/"))
  return epath.Path(os.path.abspath(os.fspath(path)))


def makedirs(path: PathLike) -> None:
  """Create a directory and its parents; on object storage there is nothing to create."""
  if is_local(path):
    os.makedirs(os.fspath(path), exist_ok=True)


def write_bytes(path: PathLike, data: bytes) -> None:
  """Write a whole file, creating local parent directories first.

  On object storage an object appears only once its upload completes, so a reader never sees
  half of it; locally use `write_bytes_atomic` where a reader may race the writer.
  """
  target = resolve(path)
  makedirs(os.path.dirname(os.fspath(target)))
  target.write_bytes(data)


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
  """Write a whole file so that a concurrent reader sees the old one or the new one, never half.

  Locally: a temporary file beside it, then `os.replace`. On object storage a single upload
  is already all-or-nothing.
  """
  if is_object_storage(path):
    write_bytes(path, data)
    return
  target = os.path.abspath(os.fspath(path))
  os.makedirs(os.path.dirname(target), exist_ok=True)
  tmp = f"{target}.tmp.{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, target)


def write_text(path: PathLike, text: str) -> None:
  write_bytes(path, text.encode("utf-8"))


def read_bytes(path: PathLike) -> bytes:
  return resolve(path).read_bytes()


def load_npz(path: PathLike) -> dict[str, np.ndarray]:
  """All arrays of an .npz (local or remote), read into memory at once."""
  with np.load(io.BytesIO(read_bytes(path))) as npz:
    return {name: npz[name] for name in npz.files}


def save_npz(path: PathLike, *, compressed: bool = False, atomic: bool = False,
             **arrays: np.ndarray) -> None:
  """`np.savez[_compressed]` to any path (serialised in memory, then written in one go)."""
  buffer = io.BytesIO()
  (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
  (write_bytes_atomic if atomic else write_bytes)(path, buffer.getvalue())


def move_tree(source: PathLike, target: PathLike) -> None:
  """Move a directory tree. Object storage has no rename: copy every object, then delete.

  The copies are server-side; the source is deleted last, so a crash half-way leaves both
  copies, never neither.
  """
  if is_local(source) and is_local(target):
    shutil.move(os.fspath(source), os.fspath(target))
    return
  fs, source_key = fsspec.core.url_to_fs(os.fspath(resolve(source)))
  _, target_key = fsspec.core.url_to_fs(os.fspath(resolve(target)))
  for key in fs.find(source_key):
    fs.copy(key, target_key + key[len(source_key):])
  fs.rm(source_key, recursive=True)


def configure_emulator() -> None:
  """With `STORAGE_EMULATOR_HOST` set, send every GCS client in the process to that emulator.

  google-cloud-storage (the workdir lock) and gcsfs (files) read the variable themselves;
  this adds what they and tensorstore (Orbax's array data) need besides: tensorstore's
  endpoint (`TENSORSTORE_GCS_HTTP_URL`) and a dummy token (an emulator checks none, and
  without one each client probes for Google credentials), and gcsfs without its bucket-type
  lookups (gRPC calls the emulator does not serve). Explicit settings win. Without the
  variable this does nothing.
  """
  host = os.environ.get("STORAGE_EMULATOR_HOST", "")
  if not host or host == "default":
    return
  url = host if host.startswith(("http://", "https://")) else f"http://{host}"
  os.environ.setdefault("TENSORSTORE_GCS_HTTP_URL", url)
  os.environ.setdefault("GOOGLE_AUTH_TOKEN_FOR_TESTING", "emulator")
  os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # read at gcsfs import
  fsspec.config.conf.setdefault("gcs", {}).setdefault("token", "anon")


configure_emulator()
