r"""Quality over training time for named config rows: the CPU ablation's runner (issue 18).

  python benchmarks/cpu_ablation.py --out=/work/runs/ablation --judge=/work/runs/judge \
      --data_dir=/work/shared/tensorflow_datasets --budget_s=600 --segment_s=100 \
      --row="cpu=configs/jointgan.py:cpu" \
      --row="projected=configs/jointgan.py:cpu_projected model.projected.backbone=/work/runs/guide" \
      --row="narrow=configs/jointgan.py:cpu model.g_width=16 total_steps=6000"

A row is `NAME=CONFIG[:VARIANT] [field=value ...]` (values as Python literals, else strings).
Each row trains in OUT/NAME in segments of about `--segment_s` seconds: the loop is stopped by
the SIGTERM it already handles (it saves a checkpoint and returns) and resumed, which the
project keeps bit-for-bit equal to an uninterrupted run. A row ends after `--budget_s` seconds
of training (summed over segments; compiling and the checkpoint writes included) or at its
config's `total_steps`, whichever comes first; `--budget_s=0` trains to total_steps. Mind that
a 'linear' learning-rate schedule anneals over total_steps, not over the budget.

Then every kept checkpoint draws `--num` samples (seed 0) and is scored by the JUDGE classifier
run (`pegasus_jax.evaluation.sample_metrics.evaluate`): FCD of horse+bird ('union'), the judge's argmax share of
horse and bird, and the pegasus rate. Each scored step's first 64 samples go to
OUT/NAME/grids/step_STEP.png. Prints a markdown table (row, step, training seconds, load
average during the segment, FCD h+b, horse %, bird %, pegasus rate) and each row's final grid,
and writes the rows as JSON to OUT/ablation.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from typing import Any, Sequence

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from pegasus_jax import imaging, train  # noqa: E402
from pegasus_jax.evaluation import classifier_metrics as cm  # noqa: E402
from pegasus_jax.evaluation import sample_metrics  # noqa: E402
from pegasus_jax.generation import sampling  # noqa: E402
from pegasus_jax.run import restore  # noqa: E402
from train_step import load_config, set_field  # noqa: E402  # pylint: disable=wrong-import-position

GRID_IMAGES = 64


@dataclasses.dataclass
class Row:
  """One ablation row: a name, a config file (with variant) and field overrides."""

  name: str
  config: str
  overrides: tuple[str, ...] = ()

  @classmethod
  def parse(cls, text: str) -> "Row":
    name, sep, rest = text.partition("=")
    parts = rest.split()
    if not sep or not name or not parts:
      raise ValueError(f"--row={text!r}: expected NAME=CONFIG[:VARIANT] [field=value ...]")
    return cls(name.strip(), parts[0], tuple(parts[1:]))

  def build_config(self, data_dir: str | None):
    config = load_config(self.config)
    if data_dir:
      config.data.data_dir = data_dir
    for assignment in self.overrides:
      set_field(config, assignment)
    return config


@dataclasses.dataclass
class Segment:
  """What one call of the training loop did: where it ended, its seconds, the load meanwhile."""

  step: int
  seconds: float
  load: float


class _StopAfter:
  """SIGTERM to this process after `seconds`, repeated every half second until disarmed: the
  training loop turns the first into 'save and return' (a signal during its set-up is followed
  by another once its handler is in). Outside the loop, SIGTERM is swallowed, not fatal."""

  def __init__(self, seconds: float):
    self.seconds = seconds
    self._done = threading.Event()
    self._thread = threading.Thread(target=self._fire, daemon=True)
    self._previous: Any = None

  def _fire(self) -> None:
    if self._done.wait(self.seconds):
      return
    while not self._done.is_set():
      os.kill(os.getpid(), signal.SIGTERM)
      self._done.wait(0.5)

  def __enter__(self) -> "_StopAfter":
    self._previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._done.set()
    self._thread.join()
    signal.signal(signal.SIGTERM, self._previous)


def train_row(row: Row, workdir: str, budget_s: float, segment_s: float,
              data_dir: str | None) -> list[Segment]:
  """Train `row` in OUT/NAME in segments until the budget or total_steps; one checkpoint each."""
  segments: list[Segment] = []
  trained = 0.0
  while True:
    config = row.build_config(data_dir)
    config.checkpoint_every = config.total_steps  # the segment ends save; nothing in between
    config.sample_every = config.total_steps  # the grids come from the scored samples
    config.keep_checkpoints = 1_000_000
    seconds = segment_s if not budget_s else min(segment_s, budget_s - trained)
    load_before = os.getloadavg()[0]
    with _StopAfter(seconds):
      summary = train.train_and_evaluate(config, workdir)
    trained += summary["seconds"]
    step = int(summary["final_step"])
    if not segments or step > segments[-1].step:  # (a stop before its first step adds none)
      segments.append(Segment(step, trained, (load_before + os.getloadavg()[0]) / 2))
      print(f"[{row.name}] step {step} after {trained:.0f} s of training "
            f"(load {segments[-1].load:.1f})", flush=True)
    if step >= config.total_steps or (budget_s and trained >= budget_s - 1):
      return segments


def with_live_generator(run: Any) -> Any:
  """The run sampling from its live generator weights instead of their average: the paired
  comparison that says what the average bought at this step of this run."""
  return dataclasses.replace(run, state=run.state.replace(g_ema_params=run.state.g_params))


def score_step(workdir: str, step: int, judge: cm.LoadedClassifier, num: int,
               classes: Sequence[str], data_dir: str | None,
               live: bool = False) -> tuple[dict[str, Any], str]:
  """The judge's metrics of `num` samples (seed 0) of the checkpoint at `step`, and its grid;
  `live`: of the live generator rather than its average."""
  run = restore.load_run(workdir, step)
  if live:
    run = with_live_generator(run)
  images = sampling.generate_images(run, num, seed=0)
  result = sample_metrics.evaluate(images, judge, list(classes), data_dir=data_dir)
  grid = os.path.join(workdir, "grids", f"step_{step:07d}{'_live' if live else ''}.png")
  imaging.save_png(grid, imaging.image_grid(images[:GRID_IMAGES]))
  return result, grid


def table_row(name: str, segment: Segment, result: dict[str, Any]) -> str:
  histogram = result["class_histogram"]
  total = max(1, sum(histogram.values()))
  share = lambda label: 100.0 * histogram.get(label, 0) / total
  rate = result["pegasus_rate"]
  return (f"| {name} | {segment.step} | {segment.seconds:.0f} | {segment.load:.1f} | "
          f"{result['fcd'][cm.UNION]:.1f} | {share('horse'):.1f} | {share('bird'):.1f} | "
          f"{'-' if rate is None else f'{100 * rate:.2f}'} |")


def run_ablation(rows: Sequence[Row], out: str, judge_workdir: str, *, budget_s: float,
                 segment_s: float, num: int, classes: Sequence[str] = ("horse", "bird"),
                 data_dir: str | None = None, live: bool = False) -> dict[str, Any]:
  """Train every row, then score every row's checkpoints; the table's lines and the grids.
  `live`: rows that average their generator are also scored on the live one ('NAME live')."""
  judge = sample_metrics.load_classifier(judge_workdir)
  report: dict[str, Any] = {"rows": {}, "table": [
      "| row | step | train s | load | FCD h+b | horse % | bird % | pegasus rate % |",
      "|---|---|---|---|---|---|---|---|"]}
  for row in rows:
    workdir = os.path.join(out, row.name)
    config = row.build_config(data_dir)
    averaged = bool(config.get("ema") and config.ema.decay)  # samples from an average of G
    segments = train_row(row, workdir, budget_s, segment_s, data_dir)
    scored = []
    for segment in segments:
      result, grid = score_step(workdir, segment.step, judge, num, classes, data_dir)
      report["table"].append(table_row(row.name, segment, result))
      scored.append({**dataclasses.asdict(segment), "fcd_union": result["fcd"][cm.UNION],
                     "class_histogram": result["class_histogram"],
                     "pegasus_rate": result["pegasus_rate"], "grid": grid})
      if live and averaged:
        result, grid = score_step(workdir, segment.step, judge, num, classes, data_dir, True)
        report["table"].append(table_row(f"{row.name} live", segment, result))
        scored[-1]["live"] = {"fcd_union": result["fcd"][cm.UNION],
                              "class_histogram": result["class_histogram"],
                              "pegasus_rate": result["pegasus_rate"], "grid": grid}
    report["rows"][row.name] = {"config": row.config, "overrides": list(row.overrides),
                                "workdir": workdir, "scored": scored,
                                "final_grid": scored[-1]["grid"]}
  return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--row", action="append", required=True,
                      help="NAME=CONFIG[:VARIANT] [field=value ...] (repeat per row)")
  parser.add_argument("--out", required=True, help="folder of the rows' workdirs")
  parser.add_argument("--judge", required=True, help="the judge classifier's workdir")
  parser.add_argument("--budget_s", type=float, default=600.0,
                      help="training seconds per row (0: to the config's total_steps)")
  parser.add_argument("--segment_s", type=float, default=100.0,
                      help="training seconds between checkpoints")
  parser.add_argument("--num", type=int, default=5_000, help="samples scored per checkpoint")
  parser.add_argument("--classes", default="horse,bird")
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir (rows and judge)")
  parser.add_argument("--live", action="store_true",
                      help="also score the live generator of rows that average it (ema.decay)")
  args = parser.parse_args(argv)
  rows = [Row.parse(text) for text in args.row]
  report = run_ablation(rows, args.out, args.judge, budget_s=args.budget_s,
                        segment_s=args.segment_s, num=args.num,
                        classes=tuple(args.classes.split(",")), data_dir=args.data_dir,
                        live=args.live)
  print("\n".join(report["table"]))
  for name, row in report["rows"].items():
    print(f"{name}: final grid {row['final_grid']}")
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "ablation.json"), "w") as f:
    json.dump(report, f, indent=2)
  return report


if __name__ == "__main__":
  main()
