"""A trained classifier run exported for inference only: small, checksummed, committable.

Why: the judge classifier takes an hour of this project's CPU to train, and every reported number
is read through it, so it ships with the repository (`assets/judge/`). A training checkpoint
carries the optimiser state and Orbax's layout; an export keeps what inference needs -- the
network's parameters and batch statistics as one `.npz`, and `run.json` with the run's config,
data description, step, held-out evaluation (its calibration temperature) and the SHA-256 of the
`.npz`, which `load_exported` verifies before it builds anything. `restore.load_run` reads such a
folder with `load_exported` and `fill_state`, so `evaluate --classifier=assets/judge` and every tool that takes a
classifier workdir take an export as well.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import jax
import ml_collections
import numpy as np

from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import UserError
from pegasus_jax.run import paths

FORMAT = "pegasus_jax.exported_run/1"
MANIFEST = "run.json"
WEIGHTS = "weights.npz"
EXPORTED_FIELDS = ("params", "batch_stats")  # what inference reads of a classifier's state


class ExportError(UserError, ValueError):
  """An exported run is incomplete, altered (checksum), or does not fit its own config."""


def is_exported(directory: str) -> bool:
  """Whether `directory` holds an exported run (its manifest)."""
  return (paths.resolve(directory) / MANIFEST).exists()


def _flatten(state: Any) -> dict[str, np.ndarray]:
  arrays = {}
  for field in EXPORTED_FIELDS:
    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(getattr(state, field)))
    for path, leaf in leaves:
      arrays[field + jax.tree_util.keystr(path)] = np.asarray(leaf)
  return arrays


def _sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def export_run(run: Any, out_dir: str, data_dir: str | None = None) -> dict[str, Any]:
  """Write `run` (a `restore.TrainedRun` of a classifier) to `out_dir`; returns the manifest.

  `data_dir` replaces the run's `config.data.data_dir` (where the real images for reference
  statistics are read from): the training machine's folder means nothing elsewhere.
  """
  config = ml_collections.ConfigDict(run.config.to_dict())
  config.data.data_dir = data_dir
  buffer = io.BytesIO()
  np.savez(buffer, **_flatten(run.state))
  data = buffer.getvalue()
  out = paths.resolve(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  (out / WEIGHTS).write_bytes(data)
  manifest = {
      "format": FORMAT,
      "step": int(run.step),
      "config": config.to_dict(),
      "data_info": run.meta["data_info"],
      "evaluation": run.meta.get("evaluation") or {},
      "weights": WEIGHTS,
      "weights_sha256": _sha256(data),
      "weights_bytes": len(data),
  }
  (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
  return manifest


def read_manifest(directory: str) -> dict[str, Any]:
  """The export's manifest, checked for its format."""
  root = paths.resolve(directory)
  try:
    manifest = json.loads((root / MANIFEST).read_text())
  except (OSError, ValueError) as error:
    raise ExportError(f"{root / MANIFEST} is not a readable manifest: {error}") from error
  if manifest.get("format") != FORMAT:
    raise ExportError(f"{root / MANIFEST} has format {manifest.get('format')!r}; this version "
                      f"reads {FORMAT!r}")
  return manifest


def load_exported(directory: str) -> tuple[ml_collections.ConfigDict, DataInfo,
                                           dict[str, np.ndarray], int, dict[str, Any]]:
  """(config, data info, arrays, step, meta) of an export, after verifying its checksum.

  The caller builds the family from (config, info) and puts the arrays into its freshly
  initialised state with `fill_state` (this module builds no family: it sits below them).
  """
  root = paths.resolve(directory)
  manifest = read_manifest(directory)
  data = (root / manifest["weights"]).read_bytes()
  digest = _sha256(data)
  if digest != manifest["weights_sha256"]:
    raise ExportError(f"{root / manifest['weights']}: SHA-256 {digest} differs from the "
                      f"manifest's {manifest['weights_sha256']}; the weights were altered or "
                      "truncated")
  config = ml_collections.ConfigDict(manifest["config"])
  config.data.classes = tuple(config.data.classes)  # JSON turned the tuple into a list
  saved = manifest["data_info"]
  info = DataInfo(tuple(saved["labels"]),
                  {k: tuple(v) for k, v in saved["example_shapes"].items()})
  with np.load(io.BytesIO(data)) as arrays:
    loaded = dict(arrays)
  meta = {"config": manifest["config"], "data_info": saved,
          "evaluation": manifest.get("evaluation") or {}}
  return config, info, loaded, int(manifest["step"]), meta


def fill_state(state: Any, arrays: dict[str, np.ndarray], directory: str) -> Any:
  """`state` (the family's own, freshly initialised) with the exported fields put in.

  Any missing, extra or reshaped array is an ExportError: the export is not of this network.
  """
  arrays = dict(arrays)
  fields = {}
  for field in EXPORTED_FIELDS:
    template = getattr(state, field)
    leaves = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(template):
      key = field + jax.tree_util.keystr(path)
      if key not in arrays:
        raise ExportError(f"{directory}: {key} is missing from its {WEIGHTS}")
      value = arrays.pop(key)
      if value.shape != leaf.shape or value.dtype != leaf.dtype:
        raise ExportError(f"{directory}: {key} is {value.dtype}{list(value.shape)}, the "
                          f"network wants {leaf.dtype}{list(leaf.shape)}")
      leaves.append(jax.numpy.asarray(value))
    fields[field] = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
  if arrays:
    raise ExportError(f"{directory}: arrays the network does not have: {sorted(arrays)[:5]}")
  return state.replace(**fields)
