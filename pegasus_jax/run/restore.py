"""Load a trained run back from its workdir: the one way every tool and evaluator does it.

`sample`, `latent`, `evaluate`, the classifier-metrics loader and the evaluators all call
`load_run`; it rebuilds the family from the config and data description saved with the
checkpoint, restores the newest (or a given, or the best) step, and closes the store. The
workdir may be local or on object storage (`gs://`, see `paths`).
"""

from __future__ import annotations

from pegasus_jax import families
from pegasus_jax.run.saved_run import TrainedRun, data_info_meta, read_run  # noqa: F401 (API)


def load_run(workdir: str, step: int | None = None, *, prefer_best: bool = False) -> TrainedRun:
  """The run in `workdir` at `step` (default: the newest checkpoint that restores), any family.

  `prefer_best`: the step kept in WORKDIR/checkpoints_best/ when the run kept one (a classifier
  by validation accuracy), else the latest. RunNotFoundError when there is nothing to load.
  """
  return read_run(workdir, families.create, step, prefer_best=prefer_best)
