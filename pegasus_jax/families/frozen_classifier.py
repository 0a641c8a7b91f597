"""A trained classifier run as a frozen network inside another family's step.

Both the guide term of GAN training (`config.guide.classifier`) and the projected
discriminator's backbone (`model.projected.backbone`) read a classifier run -- a training
workdir (its best checkpoint, else its newest) or an inference-only export such as
`assets/guide` -- and close over its weights as constants: never in an optimiser. This is the
one way a family loads one. It reads the run with `run.saved_run` (the reader `run.restore`
uses) and builds the `Classifier` family directly: the registry imports every family, and this
module sits below them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import jax
import ml_collections
import numpy as np

from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError, RunNotFoundError
from pegasus_jax.families.classifier import Classifier, ClassifierState
from pegasus_jax.run import checkpoint, paths, saved_run
from pegasus_jax.run import export as run_export

PyTree = Any


def variables_sha256(tree: PyTree) -> str:
  """SHA-256 (hex) of a pytree's arrays and their paths: which network exactly."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree)):
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(leaf).tobytes())
  return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class FrozenClassifier:
  """A classifier's family and its inference state (no optimiser state), where it came from."""

  family: Classifier
  state: ClassifierState
  config: ml_collections.ConfigDict
  labels: tuple[str, ...]
  image_shape: tuple[int, ...]
  temperature: float  # the held-out calibration temperature (1 when the run has none)
  workdir: str
  step: int
  sha256: str  # variables_sha256 of its params and batch statistics

  @property
  def variables(self) -> PyTree:
    return {"params": self.state.params, "batch_stats": self.state.batch_stats}


def checkpoint_dir(workdir: str) -> str | None:
  """WORKDIR/checkpoints_best when it holds a step, else WORKDIR/checkpoints; None if neither."""
  root = paths.resolve(workdir)
  for directory in (root / checkpoint.BEST_DIR, root / "checkpoints"):
    if directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir()):
      return str(directory)
  return None


def is_classifier_run(workdir: str) -> bool:
  """Whether `workdir` holds something `load` can read (an export or a checkpoint)."""
  return run_export.is_exported(workdir) or checkpoint_dir(workdir) is not None


def load(workdir: str, field: str) -> FrozenClassifier:
  """The classifier run in `workdir` (its best, else newest checkpoint, or its export);
  ConfigError naming `field` when there is none or it is not a classifier run."""

  def create(config: ml_collections.ConfigDict, info: DataInfo) -> Classifier:
    _require_classifier(workdir, config, field)
    return Classifier(config, info)

  try:
    run = saved_run.read_run(workdir, create, prefer_best=True)
  except RunNotFoundError as error:
    raise ConfigError(f"{field}={workdir!r} holds no classifier checkpoint nor export (expected "
                      f"{workdir}/checkpoints/STEP or {workdir}/{run_export.MANIFEST}): "
                      f"{error}") from error
  state = run.state.replace(opt_state=())  # inference only: no momentum in a caller's step
  temperature = float((run.meta.get("evaluation") or {}).get("eval/temperature", 1.0))
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  return FrozenClassifier(family=run.family, state=state, config=run.config,
                          labels=tuple(run.info.labels),
                          image_shape=tuple(run.info.example_shapes["image"]),
                          temperature=temperature, workdir=str(workdir), step=int(run.step),
                          sha256=variables_sha256(variables))


def _require_classifier(workdir: str, config: ml_collections.ConfigDict, field: str) -> None:
  if config.family != "classifier":
    raise ConfigError(f"{field}={workdir!r} is a {config.family!r} run; it must be a "
                      "'classifier' run (configs/classifier.py)")
