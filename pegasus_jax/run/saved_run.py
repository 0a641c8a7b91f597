"""A trained run read back from its workdir (a checkpoint or an inference-only export), its
family built by a factory the caller passes in.

`restore.load_run` passes the family registry; `families.frozen_classifier` (which the registry's
own families import, so it cannot import the registry) passes the `Classifier` class. One reader
for both, so a checkpoint or export format change lands once.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

import jax
import ml_collections

from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import RunNotFoundError
from pegasus_jax.run import checkpoint, paths, runtime
from pegasus_jax.run import export as run_export

if TYPE_CHECKING:  # a type only: importing the families package here would be a cycle
  from pegasus_jax.families.base import Family

FamilyFactory = Callable[[ml_collections.ConfigDict, DataInfo], "Family"]


@dataclasses.dataclass
class TrainedRun:
  workdir: str
  config: ml_collections.ConfigDict
  family: "Family"
  info: DataInfo
  state: Any  # single-device arrays: ready for host-side tools and evaluation
  step: int
  meta: dict[str, Any]
  checkpoint_dir: str


def data_info_meta(info: DataInfo) -> dict[str, Any]:
  """The data description saved with every checkpoint (what the family was built from)."""
  return {"labels": list(info.labels),
          "example_shapes": {k: list(v) for k, v in info.example_shapes.items()}}


def _data_info(meta: dict[str, Any]) -> DataInfo:
  saved = meta["data_info"]
  return DataInfo(tuple(saved["labels"]),
                  {k: tuple(v) for k, v in saved["example_shapes"].items()})


def _has_steps(directory: paths.PathLike) -> bool:
  if not paths.resolve(directory).is_dir():
    return False
  store = checkpoint.CheckpointStore(directory, keep=1_000_000, asynchronous=False)
  try:
    return bool(store.all_steps())
  finally:
    store.close()


def read_run(workdir: str, create: FamilyFactory, step: int | None = None, *,
             prefer_best: bool = False) -> TrainedRun:
  """The run in `workdir` at `step` (default: the newest checkpoint that restores), its family
  built by `create(config, data_info)` from what the checkpoint saved.

  `prefer_best`: the step kept in WORKDIR/checkpoints_best/ when the run kept one (a classifier
  by validation accuracy), else the latest. RunNotFoundError when there is nothing to load.
  """
  root = paths.resolve(workdir)
  if step is None and run_export.is_exported(str(root)):  # an inference-only export (assets/)
    config, info, arrays, step, meta = run_export.load_exported(str(root))
    family = create(config, info)
    state = run_export.fill_state(
        runtime.local_copy(family.init(runtime.stream_key(config.seed, "init"))), arrays,
        str(root))
    return TrainedRun(workdir=str(root), config=config, family=family, info=info, state=state,
                      step=step, meta=meta, checkpoint_dir=str(root))
  workdir, checkpoint_dir, best_dir = (str(root), str(root / "checkpoints"),
                                       str(root / checkpoint.BEST_DIR))
  if prefer_best and step is None and _has_steps(best_dir):
    checkpoint_dir = best_dir
  if not paths.resolve(checkpoint_dir).is_dir():
    raise RunNotFoundError(f"no checkpoints in {workdir} (expected {checkpoint_dir}); is it "
                           "the --workdir of a training run?")
  store = checkpoint.CheckpointStore(checkpoint_dir, keep=1_000_000, asynchronous=False)
  try:
    steps = store.all_steps()
    if not steps:
      raise RunNotFoundError(f"{checkpoint_dir} holds no finished checkpoint yet")
    if step is not None and step not in steps:
      raise RunNotFoundError(f"step {step} is not among the checkpoints in {checkpoint_dir}: "
                             f"{steps}")
    meta = store.read_meta(step if step is not None else steps[-1])
    config = ml_collections.ConfigDict(meta["config"])
    config.data.classes = tuple(config.data.classes)  # JSON turned the tuple into a list
    info = _data_info(meta)
    family = create(config, info)
    abstract = checkpoint.replicated_abstract(
        jax.eval_shape(family.init, runtime.stream_key(config.seed, "init")),
        runtime.replicated(runtime.make_mesh()))
    if step is None:
      state, meta, step = store.restore_latest(abstract)
    else:
      state, meta = store.restore(step, abstract)
  finally:
    store.close()
  return TrainedRun(workdir=workdir, config=config, family=family, info=info,
                    state=runtime.local_copy(state), step=step, meta=meta,
                    checkpoint_dir=checkpoint_dir)
