r"""Does the input pipeline keep up? The host's batch rate beside the train step's, per config.

  python benchmarks/input_pipeline.py --data_dir=../shared/tensorflow_datasets
  python benchmarks/input_pipeline.py --configs=jointgan,dcgan_cifar --seconds=2 --step=none

For every shipped config (configs/*.py, each variant its get_config names when it refuses an
unknown one, identical variants merged) at its default batch size, this reads the data once,
builds the family and the training loop's own sampler and `DevicePrefetcher`, and times how
fast batches arrive on the devices with nothing consuming them but `next()` (after `--warmup`
batches, for `--seconds`): the most the host can deliver. Beside it, the train step's rate on
a fixed batch already on the devices (as benchmarks/train_step.py times it), for the CPU
variants (`--step=cpu`, the default), every config (`--step=all`) or none. Full configs are
accelerator configs: their step is not timed on a CPU, and the table says so. Rates count what
a step consumes ("img": the real examples of one step, as train_step.py's real/s), so the ratio
host/step is the number of steps' worth of batches the host makes in one step's time; below 1
the step waits for data.

Configs whose data is not here (a TFDS set not prepared in --data_dir, a missing image folder)
are listed as skipped. Image-folder paths in configs are relative to the current directory
(../shared/images/...): run from a checkout beside the shared folder, or pass --images_root.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import math
import os
import re
import sys
import time
from typing import Any

import jax
import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pegasus_jax import data, families, train  # noqa: E402
from pegasus_jax.data.prefetch import DevicePrefetcher  # noqa: E402
from pegasus_jax.errors import UserError  # noqa: E402
from pegasus_jax.run import runtime  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from train_step import time_family_step  # noqa: E402  # pylint: disable=wrong-import-position


def load_module(path: str):
  spec = importlib.util.spec_from_file_location(f"config_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def variants(module) -> list[str]:
  """The variants a config accepts: those its get_config names when refusing an unknown one
  (the convention of every file in configs/), else only the default."""
  try:
    module.get_config("__no_such_variant__")
  except ValueError as e:
    listed = re.search(r"valid: (.*)$", str(e))
    if listed:
      names = re.findall(r"'([^']*)'", listed.group(1))
      return list(dict.fromkeys(["", *names]))
  return [""]


def shipped_configs(config_dir: str, only: list[str] | None) -> list[tuple[list[str], Any]]:
  """[(names, config)] for every config file and variant, identical configs merged."""
  rows: list[tuple[list[str], Any]] = []
  seen: dict[str, int] = {}
  for path in sorted(glob.glob(os.path.join(config_dir, "*.py"))):
    stem = os.path.basename(path)[:-3]
    if only and stem not in only:
      continue
    module = load_module(path)
    for variant in variants(module):
      config = module.get_config(variant or None)
      name = f"{stem}:{variant}" if variant else stem
      key = config.to_json(sort_keys=True)
      if key in seen:
        rows[seen[key]][0].append(name)
      else:
        seen[key] = len(rows)
        rows.append(([name], config))
  return rows


def with_data_paths(config: ml_collections.ConfigDict, data_dir: str | None,
                    images_root: str | None) -> ml_collections.ConfigDict:
  """`config` reading TFDS sets from data_dir and image folders under images_root."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.download = False  # a set that is not here is skipped, never fetched
  if data_dir:
    config.data.data_dir = data_dir
  for block in (config.data, config.data.get("domain_b")):
    if block is not None and block.get("path") and images_root:
      block.path = os.path.join(images_root, os.path.basename(os.path.normpath(block.path)))
  return config


def real_per_step(spec) -> int:
  """What one step consumes, counted as train_step.py's real/s counts it."""
  return max(math.prod(f.shape[:f.batch_axis + 1]) for f in spec.values())


def time_host(sampler, shardings, depth: int, warmup: int, seconds: float) -> float:
  """Batches per second delivered by sampler + DevicePrefetcher with nothing else running."""
  prefetcher = DevicePrefetcher(sampler.batch, shardings, 0, 10**9, depth=depth)
  try:
    for _ in range(warmup):
      jax.block_until_ready(next(prefetcher))
    count, t0 = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - t0 < seconds:
      jax.block_until_ready(next(prefetcher))
      count += 1
    return count / (time.perf_counter() - t0)
  finally:
    prefetcher.close()


def measure_step(names: list[str], policy: str) -> bool:
  if policy == "all":
    return True
  return policy == "cpu" and any(n.split(":")[-1].endswith("cpu") for n in names)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config_dir", default=os.path.join(REPO, "configs"))
  parser.add_argument("--configs", default="", help="config file stems, comma-separated "
                      "(default: every configs/*.py)")
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir for every config")
  parser.add_argument("--images_root", default=None,
                      help="folder holding the image folders the configs name (pokemon, ...)")
  parser.add_argument("--seconds", type=float, default=3.0, help="host timing per config")
  parser.add_argument("--warmup", type=int, default=2, help="batches before timing")
  parser.add_argument("--step", choices=("cpu", "all", "none"), default="cpu",
                      help="which configs' train step to time (compiles each one)")
  parser.add_argument("--step_steps", type=int, default=3)
  args = parser.parse_args()

  only = [c for c in args.configs.split(",") if c] or None
  mesh = runtime.make_mesh()
  print(f"backend: {jax.default_backend()}  devices: {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}  jax {jax.__version__}  cores: {os.cpu_count()}  "
        f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
  header = (f"{'config':38} {'family':10} {'sampler':14} {'img/step':>8} {'host img/s':>10} "
            f"{'host step/s':>11} {'step img/s':>10} {'host/step':>9}  keeps up")
  print(header)
  print("-" * len(header), flush=True)
  datasets: dict[str, Any] = {}  # one read per distinct data block
  for names, config in shipped_configs(args.config_dir, only):
    label = " = ".join(names)
    config = with_data_paths(config, args.data_dir, args.images_root)
    key = config.data.to_json(sort_keys=True)
    try:
      if key not in datasets:
        datasets[key] = data.load_dataset(config)
      dataset = datasets[key]
      family = families.create(config, dataset.info)
      sampler = train.build_sampler(config, family, dataset)
    except UserError as e:  # data not here (or a config this host cannot build)
      print(f"{label:38} skipped: {type(e).__name__}: {str(e).splitlines()[0][:90]}",
            flush=True)
      continue
    spec = family.data_spec()
    per_step = real_per_step(spec)
    host_steps = time_host(sampler, runtime.batch_shardings(mesh, spec), config.prefetch,
                              args.warmup, args.seconds)
    host = host_steps * per_step
    if measure_step(names, args.step):
      step = time_family_step(family, mesh, args.step_steps, 1)["steps_per_s"] * per_step
      step_text, ratio = f"{step:10.0f}", host / step
      verdict = f"{ratio:9.1f}  {'yes' if ratio >= 1 else 'NO'}"
    else:
      why = "not a :cpu variant" if args.step == "cpu" else "--step=none"
      step_text, verdict = f"{'-':>10}", f"{'-':>9}  step not timed ({why})"
    print(f"{label:38} {config.family:10} {sampler.name:14} {per_step:8d} {host:10.0f} "
          f"{host_steps:11.1f} {step_text} {verdict}", flush=True)


if __name__ == "__main__":
  main()
