"""Load a trained run back from its workdir: config, family and state (for sampling, tools)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections
from jax.sharding import NamedSharding, PartitionSpec as P

from pegasus_jax import checkpoint, families, train


@dataclasses.dataclass
class TrainedRun:
  config: ml_collections.ConfigDict
  family: families.GANFamily
  state: Any
  step: int
  meta: dict[str, Any]


def load_run(workdir: str, step: int | None = None) -> TrainedRun:
  """The run in `workdir` at `step` (default: the newest checkpoint that restores)."""
  checkpoint_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(checkpoint_dir):
    raise FileNotFoundError(f"no checkpoints in {workdir} (expected {checkpoint_dir}); is it "
                            "the --workdir of a training run?")
  store = checkpoint.CheckpointStore(checkpoint_dir, keep=1_000_000, asynchronous=False)
  steps = store.all_steps()
  if not steps:
    raise FileNotFoundError(f"{checkpoint_dir} holds no finished checkpoint yet")
  if step is not None and step not in steps:
    raise ValueError(f"--step={step} is not among the checkpoints in {checkpoint_dir}: {steps}")
  meta = store.read_meta(step if step is not None else steps[-1])
  config = ml_collections.ConfigDict(meta["config"])
  config.data.classes = tuple(config.data.classes)  # JSON turned the tuple into a list
  family = families.create(config, tuple(meta["class_labels"]))
  replicated = NamedSharding(train.make_mesh(), P())
  abstract = checkpoint.replicated_abstract(
      jax.eval_shape(family.init, train.root_keys(config.seed)["init"]), replicated)
  if step is None:
    state, meta, step = store.restore_latest(abstract)
  else:
    state, meta = store.restore(step, abstract)
  store.close()
  return TrainedRun(config=config, family=family, state=state, step=step, meta=meta)

