r"""One row of EVALUATION.md's "Pegasus methods" table: a method on a run, judged by a classifier
the method never saw.

  python benchmarks/pegasus_methods.py --workdir=RUN --guide=GUIDE_CLASSIFIER \
      --judge=JUDGE_CLASSIFIER --method=guided_latent --num=1000 --candidates=8000 \
      --out=runs/pegasus_methods/jointgan_guided [--seed=0 --steps=40 --disc_weight=0 ...]
      [--data_dir=../shared/tensorflow_datasets]

Draws --num images by --method (`pegasus_jax.generation.hybrids.draw_hybrids`, steered by --guide only),
times the drawing, then scores the images with --judge (which must be a different classifier
run: the two paths are asserted to differ) through `pegasus_jax.evaluation.sample_metrics.evaluate`: the judge's
pegasus rate and mean score, FCD h+b (the 'union' FCD against the real horse+bird statistics of
the judge's features) and class histogram; the guide's pegasus rate and score on the same images
come from the same function with the guide (each guide of an ensemble, --guide=A,B: 'guides';
'guide' is the first). Writes OUT/row.json, OUT/best64.png (the 64 best by
the judge) and OUT/random64.png (64 at random, seeded).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from typing import Any, Sequence

import numpy as np

from pegasus_jax import imaging
from pegasus_jax.evaluation import sample_metrics
from pegasus_jax.generation import guided_latent, hybrids
from pegasus_jax.generation import scoring
from pegasus_jax.run import paths, restore
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm

GRID = 64  # images in each picture


def judge_summary(result: dict[str, Any]) -> dict[str, Any]:
  """The row's numbers from a `sample_metrics.evaluate` result."""
  return {"pegasus_rate": result["pegasus_rate"], "pegasus_score": result["pegasus_score"],
          "fcd_union": (result.get("fcd") or {}).get(cm.UNION),
          "class_histogram": result["class_histogram"],
          "classifier": {k: result[k] for k in ("classifier_workdir", "classifier_step",
                                                "classifier_weights",
                                                "classifier_heldout_accuracy")}}


def run_row(workdir: str, guide_workdir: str, judge_workdir: str, out: str, method: str,
            num: int, candidates: int, *, seed: int = 0, classes: Sequence[str] = ("horse", "bird"),
            langevin: guided_latent.LangevinOptions | None = None, blend_grid: int = 11,
            data_dir: str | None = None, batch_size: int = 256) -> dict[str, Any]:
  """Draw, judge, write OUT/row.json and the two pictures; returns the row."""
  guide_workdirs = scoring.classifier_workdirs(guide_workdir)
  if paths.resolve(judge_workdir) in {paths.resolve(path) for path in guide_workdirs}:
    raise ConfigError(f"--judge={judge_workdir!r} is a guide: a method must be judged by a "
                      "classifier it never called")
  run = restore.load_run(workdir)
  guide_classifiers = [cm.load_classifier(path, prefer_best=True) for path in guide_workdirs]
  judge = cm.load_classifier(judge_workdir, prefer_best=True)
  if judge.weights_hash in {member.weights_hash for member in guide_classifiers}:
    raise ConfigError("a guide and the judge have the same weights: use a different judge")
  guide = scoring.classifier_scorer(run, guide_classifiers, classes)
  start = time.perf_counter()
  drawn = hybrids.draw_hybrids(run, guide, classes, num, candidates, method, seed, langevin,
                               blend_grid, batch_size)
  drawing_s = time.perf_counter() - start
  judged = sample_metrics.evaluate(drawn.images, judge, classes, data_dir=data_dir)
  guided = [sample_metrics.evaluate(drawn.images, member, classes, data_dir=data_dir)
            for member in guide_classifiers]
  paths.makedirs(out)
  judge_scores = cm.pegasus_per_sample(
      cm.predict_samples(judge, drawn.images).probs,
      [judge.class_index(name) for name in classes])
  best = np.argsort(-judge_scores, kind="stable")[:GRID]
  shown = np.random.default_rng(seed).permutation(len(drawn.images))[:GRID]
  imaging.save_png(os.path.join(out, "best64.png"), imaging.image_grid(drawn.images[best]))
  imaging.save_png(os.path.join(out, "random64.png"), imaging.image_grid(drawn.images[shown]))
  row = {"workdir": str(paths.resolve(workdir)), "family": run.config.family, "step": run.step,
         "method": drawn.method, "parameters": drawn.parameters, "num": num,
         "candidates": candidates, "seed": seed, "drawing_s": drawing_s,
         "judge": judge_summary(judged), "guide": judge_summary(guided[0]),
         "guides": [judge_summary(result) for result in guided]}
  paths.write_text(os.path.join(out, "row.json"), json.dumps(row, indent=2))
  return row


def main(argv: Sequence[str] | None = None) -> None:
  defaults = guided_latent.LangevinOptions()
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--guide", required=True)
  parser.add_argument("--judge", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--method", default="auto", choices=["auto", *hybrids.METHODS])
  parser.add_argument("--num", type=int, default=1000)
  parser.add_argument("--candidates", type=int, default=8000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--classes", default="horse,bird")
  parser.add_argument("--blend_grid", type=int, default=11)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--batch_size", type=int, default=256)
  for field in dataclasses.fields(defaults):
    parser.add_argument(f"--{field.name}", type=type(getattr(defaults, field.name)),
                        default=getattr(defaults, field.name))
  args = parser.parse_args(argv)
  langevin = guided_latent.LangevinOptions(
      **{field.name: getattr(args, field.name) for field in dataclasses.fields(defaults)})
  row = run_row(args.workdir, args.guide, args.judge, args.out, args.method, args.num,
                args.candidates, seed=args.seed, classes=args.classes.split(","),
                langevin=langevin, blend_grid=args.blend_grid, data_dir=args.data_dir,
                batch_size=args.batch_size)
  print(json.dumps({k: row[k] for k in ("method", "num", "drawing_s")}
                   | {"judge_rate": row["judge"]["pegasus_rate"],
                      "judge_score": row["judge"]["pegasus_score"],
                      "fcd_hb": row["judge"]["fcd_union"],
                      "guide_rates": [guide["pegasus_rate"] for guide in row["guides"]]}))


if __name__ == "__main__":
  main()
