r"""Pack what benchmarks/device_run.sh needs on a lent GPU machine into one carried folder.

  python benchmarks/device_pack.py --data_dir=../shared/tensorflow_datasets \
      --classifier=runs/classifier [--out=.device] [--classes=horse,bird]

Those machines reach no network and have JAX, Flax, Optax, Orbax, TensorBoard and Pillow but
neither TensorFlow (so no TFDS reading), ml_collections nor clu (see the device README's package
list), and a call carries at most 64 MiB beside the repository. So, here, on a machine that has
them all, this writes into OUT (default .device/, ignored by git):

- images/<class>/NNNNN.png: the requested classes of CIFAR-10's train split, lossless, for
  `config.data.name=image_folder` (horse + bird: 10,000 PNGs, about 23 MB; every class of the
  split would be 116 MB, too much to carry, so a classifier is not trained there);
- site/<package>/: the pure-Python packages the machine lacks (ml_collections, clu), for
  PYTHONPATH;
- classifier/: a copy of a trained classifier workdir whose real-image reference statistics for
  those classes are computed here (the evaluate command caches them beside the checkpoints),
  so that scoring there reads no data set.

Then, on the machine: `OUT=$OUT SITE=.device/site IMAGES=.device/images
CLASSIFIER=.device/classifier benchmarks/device_run.sh` (the device tool's `carry=[".device"]`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from typing import Sequence

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# The lent machines' list of Python packages lacks these two pure-Python ones.
MISSING_THERE = ("ml_collections", "clu")
CARRY_LIMIT_BYTES = 64 * 2**20


def export_class_images(data_dir: str, classes: Sequence[str], out_dir: str,
                        split: str = "train") -> dict[str, np.ndarray]:
  """Write each class of CIFAR-10 `split` as lossless PNGs under out_dir/<class>/."""
  from pegasus_jax.data.tfds_source import load_class_images  # pylint: disable=g-import-not-at-top
  loaded = load_class_images("cifar10", tuple(classes), split=split, data_dir=data_dir,
                             download=False)
  arrays = dict(zip(loaded.labels, loaded.images))
  for label, images in arrays.items():
    class_dir = os.path.join(out_dir, label)
    os.makedirs(class_dir, exist_ok=True)
    for index, image in enumerate(images):
      Image.fromarray(image).save(os.path.join(class_dir, f"{index:05d}.png"))
  return arrays


def copy_packages(names: Sequence[str], site_dir: str) -> None:
  """Copy the installed pure-Python packages `names` (sources only) into site_dir."""
  for name in names:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
      raise SystemExit(f"error: package {name!r} is not installed here; install it first")
    source = list(spec.submodule_search_locations)[0]
    shutil.copytree(source, os.path.join(site_dir, name), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*_test.py"))


def warm_classifier(classifier: str, classes: Sequence[str], data_dir: str,
                    real: dict[str, np.ndarray], work_dir: str, python: str) -> None:
  """Run the evaluate command once on real images, so the classifier caches its reference."""
  samples = os.path.join(work_dir, "real_samples.npz")
  np.savez(samples, images=np.concatenate([images[:256] for images in real.values()]))
  command = [python, "-m", "pegasus_jax.evaluate", f"--samples={samples}",
             f"--classifier={classifier}", f"--classes={','.join(classes)}",
             f"--data_dir={data_dir}"]
  print("+", " ".join(command), flush=True)
  subprocess.run(command, check=True, cwd=REPO,
                 env={**os.environ, "PYTHONPATH": os.pathsep.join(
                     filter(None, [REPO, os.environ.get("PYTHONPATH")]))})
  os.remove(samples)


def folder_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
             for f in files)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True, help="TFDS data_dir holding cifar10")
  parser.add_argument("--classifier", default=None,
                      help="a trained configs/classifier.py workdir to copy (and warm)")
  parser.add_argument("--classes", default="horse,bird")
  parser.add_argument("--out", default=os.path.join(REPO, ".device"))
  parser.add_argument("--packages", default=",".join(MISSING_THERE),
                      help="pure-Python packages to carry, comma-separated")
  args = parser.parse_args()
  classes = [c for c in args.classes.split(",") if c]
  images_dir = os.path.join(args.out, "images")
  if os.path.exists(images_dir):
    shutil.rmtree(images_dir)  # a stale class folder would become training data
  real = export_class_images(args.data_dir, classes, images_dir)
  print(f"images: {', '.join(f'{k} {len(v)}' for k, v in real.items())} -> {images_dir}")
  copy_packages([p for p in args.packages.split(",") if p], os.path.join(args.out, "site"))
  if args.classifier:
    target = os.path.join(args.out, "classifier")
    if os.path.abspath(args.classifier) != os.path.abspath(target):
      if os.path.exists(target):
        shutil.rmtree(target)
      shutil.copytree(args.classifier, target)
    warm_classifier(target, classes, args.data_dir, real, args.out, sys.executable)
  sizes = {name: folder_bytes(os.path.join(args.out, name)) / 2**20
           for name in sorted(os.listdir(args.out))}
  total = sum(sizes.values())
  print("packed: " + ", ".join(f"{name} {mb:.1f} MiB" for name, mb in sizes.items())
        + f"; {total:.1f} MiB in all (a call carries at most 64 MiB with the repository)")
  if total * 2**20 > CARRY_LIMIT_BYTES:
    raise SystemExit(f"error: {args.out} is over the 64 MiB a call may carry")


if __name__ == "__main__":
  main()
