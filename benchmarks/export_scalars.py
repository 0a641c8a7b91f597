r"""Write a run's TensorBoard scalars as one JSON file: every tag's series and its last value.

  python benchmarks/export_scalars.py WORKDIR --out=metrics.json

Reads the event files in WORKDIR (clu's tf.summary writer and `event_files.EventFileWriter`
both store scalars as tensors of TensorBoard's scalar plugin) with TensorBoard's own reader,
which needs no TensorFlow. The JSON holds `last_step`, `last` {tag: value at that tag's last
step}, `series` {tag: [[step, value], ...]} and `wall_seconds` (first to last event).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util


def read_scalars(logdir: str) -> dict[str, list[tuple[int, float, float]]]:
  """{tag: [(step, wall_time, value), ...]} of every scalar in `logdir`'s event files."""
  accumulator = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
  accumulator.Reload()
  series: dict[str, list[tuple[int, float, float]]] = {}
  for tag in accumulator.Tags()[event_accumulator.TENSORS]:
    events = accumulator.Tensors(tag)
    arrays = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
    if all(a.ndim == 0 and a.dtype.kind in "fiu" for a in arrays):
      series[tag] = [(e.step, e.wall_time, float(a)) for e, a in zip(events, arrays)]
  for tag in accumulator.Tags()[event_accumulator.SCALARS]:  # TF1-style summaries
    series[tag] = [(e.step, e.wall_time, float(e.value)) for e in accumulator.Scalars(tag)]
  return series


def summarise(logdir: str) -> dict[str, Any]:
  """The JSON document: last step, last values, series and the wall time they span."""
  series = read_scalars(logdir)
  if not series:
    raise ValueError(f"no scalars in the event files of {logdir}")
  walls = [wall for points in series.values() for _, wall, _ in points]
  return {"logdir": logdir,
          "last_step": max(points[-1][0] for points in series.values()),
          "last": {tag: points[-1][2] for tag, points in sorted(series.items())},
          "series": {tag: [[step, value] for step, _, value in points]
                     for tag, points in sorted(series.items())},
          "wall_seconds": max(walls) - min(walls)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("logdir", help="a training workdir (its events.out.tfevents.* files)")
  parser.add_argument("--out", required=True, help="the JSON file to write")
  args = parser.parse_args()
  if not os.path.isdir(args.logdir):
    print(f"error: {args.logdir} is not a directory", file=sys.stderr)
    sys.exit(2)
  try:
    summary = summarise(args.logdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  with open(args.out, "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1, sort_keys=True)
  print(f"{len(summary['series'])} scalar tags up to step {summary['last_step']} -> {args.out}")


if __name__ == "__main__":
  main()
