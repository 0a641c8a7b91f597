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
from pegasus_jax.generation import sampling
from pegasus_jax.run import paths, restore


def members(guide: str) -> list[str]:
  """The classifier workdirs of one --guide value (A or A,B,...)."""
  return [path.strip() for path in guide.split(",") if path.strip()]


def compare(workdir: str, guides: Sequence[str], judge_workdir: str, num: int,
            pools: Sequence[int], seed: int = 0, classes: Sequence[str] = ("horse", "bird"),
            batch_size: int = 256) -> list[dict[str, Any]]:
  """One row per (guide, pool): what the judge says of the guide's top `num`."""
  if len(classes) != 2:
    raise ConfigError(f"--classes={list(classes)}: the pegasus rate is defined for two classes")
  pools = sorted(set(pools))
  if not pools or not 1 <= num <= pools[0]:
    raise ConfigError(f"--num={num} must be in 1..the smallest pool ({pools})")
  judge_path = paths.resolve(judge_workdir)
  workdirs = sorted({path for guide in guides for path in members(guide)})
  if judge_path in {paths.resolve(path) for path in workdirs}:
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
    mean = sum(probs[path] for path in members(guide)) / len(members(guide))
    for pool in pools:
      chosen = np.argsort(-cm.pegasus_per_sample(mean[:pool], (a, b)), kind="stable")[:num]
      verdict = cm.pegasus_scores(judged[chosen], a, b)
      argmax = np.argmax(judged[chosen], axis=-1)
      rows.append({"guide": guide, "pool": pool, "num": num,
                   "judge_rate": verdict["pegasus_rate"], "judge_score": verdict["pegasus_score"],
                   f"judge_{classes[0]}": float(np.mean(argmax == a)),
                   f"judge_{classes[1]}": float(np.mean(argmax == b)),
                   "guide_rate": cm.pegasus_scores(mean[chosen], a, b)["pegasus_rate"],
                   "guide_score": cm.pegasus_scores(mean[chosen], a, b)["pegasus_score"]})
  plain = cm.pegasus_scores(judged[:num], a, b)
  rows.append({"guide": "(none: the first --num drawn)", "pool": num, "num": num,
               "judge_rate": plain["pegasus_rate"], "judge_score": plain["pegasus_score"],
               f"judge_{classes[0]}": float(np.mean(np.argmax(judged[:num], -1) == a)),
               f"judge_{classes[1]}": float(np.mean(np.argmax(judged[:num], -1) == b)),
               "guide_rate": float("nan"), "guide_score": float("nan")})
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
