r"""Which guide should select? The judge's pegasus rate of the images each guide picks.

  python benchmarks/selection_guides.py --workdir=RUN --judge=assets/judge \
      --guide=assets/guide --guide=assets/select_guide --guide=assets/guide,assets/select_guide \
      --num=1000 --pools=8000,20000 [--seed=0 --classes=horse,bird]

A generator trained with the guide term learns to please its guide; selecting its samples by
that same guide then finds what the guide likes more than what an independent classifier reads
as both classes. This draws max(--pools) samples once (seed --seed), reads them with every
classifier named (once each) and, for each --guide (one classifier or a comma-separated
ensemble: the mean of their calibrated probabilities, as `scoring.classifier_scorer`) and each
pool P, keeps the --num images of the first P that the guide scores best (2 * min(p_a, p_b))
and prints the judge's pegasus rate, mean score and argmax shares of the two classes, beside
the guide's own rate. The judge only scores what a guide chose; it chooses nothing.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import numpy as np

from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.generation import sampling, scoring
from pegasus_jax.run import paths, restore


def _row(guide: str, pool: int, judged: np.ndarray, guided: np.ndarray | None,
         classes: Sequence[str], a: int, b: int) -> dict[str, Any]:
  """What the judge (and the selecting guide) say of the chosen images' probabilities."""
  verdict = cm.pegasus_scores(judged, a, b)
  own = cm.pegasus_scores(guided, a, b) if guided is not None else {}
  argmax = np.argmax(judged, axis=-1)
  return {"guide": guide, "pool": pool, "num": len(judged),
          "judge_rate": verdict["pegasus_rate"], "judge_score": verdict["pegasus_score"],
          f"judge_{classes[0]}": float(np.mean(argmax == a)),
          f"judge_{classes[1]}": float(np.mean(argmax == b)),
          "guide_rate": own.get("pegasus_rate", float("nan")),
          "guide_score": own.get("pegasus_score", float("nan"))}


def compare(workdir: str, guides: Sequence[str], judge_workdir: str, num: int,
            pools: Sequence[int], seed: int = 0, classes: Sequence[str] = ("horse", "bird"),
            batch_size: int = 256) -> list[dict[str, Any]]:
  """One row per (guide, pool): what the judge says of the guide's top `num`; a last row for
  the first `num` drawn (no selection)."""
  if len(classes) != 2:
    raise ConfigError(f"--classes={list(classes)}: the pegasus rate is defined for two classes")
  pools = sorted(set(pools))
  if not pools or not 1 <= num <= pools[0]:
    raise ConfigError(f"--num={num} must be in 1..the smallest pool ({pools})")
  workdirs = sorted({path for guide in guides for path in scoring.classifier_workdirs(guide)})
  if paths.resolve(judge_workdir) in {paths.resolve(path) for path in workdirs}:
    raise ConfigError(f"--judge={judge_workdir!r} is also a guide: it may only score")
  run = restore.load_run(workdir)
  images = sampling.generate_images(run, pools[-1], seed, batch_size)
  judge = cm.load_classifier(judge_workdir, prefer_best=True)
  probs = {path: cm.predict_samples(cm.load_classifier(path, prefer_best=True), images).probs
           for path in workdirs}
  judged = cm.predict_samples(judge, images).probs
  a, b = (judge.class_index(name) for name in classes)
  rows = []
  for guide in guides:
    members = scoring.classifier_workdirs(guide)
    mean = sum(probs[path] for path in members) / len(members)  # as classifier_scorer's p
    for pool in pools:
      chosen = scoring.top_indices(cm.pegasus_per_sample(mean[:pool], (a, b)), num)
      rows.append(_row(guide, pool, judged[chosen], mean[chosen], classes, a, b))
  rows.append(_row("(none: the first --num drawn)", num, judged[:num], None, classes, a, b))
  return rows


def table(rows: Sequence[dict[str, Any]], classes: Sequence[str]) -> str:
  lines = [f"| guide | of | judge rate | judge score | {classes[0]} % | {classes[1]} % | "
           "guide's own rate |", "|---|---:|---:|---:|---:|---:|---:|"]
  for row in rows:
    lines.append(f"| {row['guide']} | {row['pool']} | {100 * row['judge_rate']:.1f}% | "
                 f"{row['judge_score']:.3f} | {100 * row[f'judge_{classes[0]}']:.1f} | "
                 f"{100 * row[f'judge_{classes[1]}']:.1f} | {100 * row['guide_rate']:.1f}% |")
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--judge", required=True)
  parser.add_argument("--guide", action="append", required=True,
                      help="a classifier workdir, or A,B,... for an ensemble; repeat for rows")
  parser.add_argument("--num", type=int, default=1000)
  parser.add_argument("--pools", default="8000,20000")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--classes", default="horse,bird")
  parser.add_argument("--batch_size", type=int, default=256)
  args = parser.parse_args(argv)
  classes = args.classes.split(",")
  rows = compare(args.workdir, args.guide, args.judge, args.num,
                 [int(p) for p in args.pools.split(",")], args.seed, classes, args.batch_size)
  print(table(rows, classes))


if __name__ == "__main__":
  main()
