"""Exports a trained classifier run for inference: `run.json` + `weights.npz` (see run/export.py).

  python -m pegasus_jax.tools.export_classifier --workdir=runs/judge --out=assets/judge \
      [--data_dir=../shared/tensorflow_datasets]

Takes the run's best checkpoint (by held-out accuracy) when it kept one, else the newest, and
prints the manifest's step, held-out accuracy, temperature and the weights' SHA-256, which the
loader verifies.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from pegasus_jax.run import export as run_export
from pegasus_jax.run import restore


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="the classifier's training workdir")
  parser.add_argument("--out", required=True, help="folder to write run.json and weights.npz to")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data_dir recorded for the export (default: TFDS's own)")
  args = parser.parse_args(argv)
  run = restore.load_run(args.workdir, prefer_best=True)
  manifest = run_export.export_run(run, args.out, args.data_dir)
  evaluation = manifest["evaluation"]
  print(f"step {manifest['step']}  held-out accuracy {evaluation.get('eval/accuracy')}  "
        f"temperature {evaluation.get('eval/temperature')}  "
        f"weights {manifest['weights_bytes']} bytes sha256 {manifest['weights_sha256']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
