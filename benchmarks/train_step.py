r"""Time the jitted GAN train step: compile time, steps/s and images/s.

  python benchmarks/train_step.py                      # JointGAN 32x32, K = 1, 2, 4, 10
  python benchmarks/train_step.py --classes=2 --image_size=64,128 --family=dcgan
  python benchmarks/train_step.py --config=configs/jointgan.py:cpu --classes=2

Each row builds the family from the config (default: configs/jointgan.py, full size), feeds a
fixed random batch already on the devices (so data loading is not timed), runs `--warmup`
steps, then times `--steps` steps with one host sync at the end. images/s counts the real and
generated images the discriminators see: K * batch * n_disc real + batch * n_disc fake + batch
for the generator step.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pegasus_jax import families, train  # noqa: E402


def load_config(spec: str):
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("bench_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def time_step(config, num_classes: int, steps: int, warmup: int) -> dict[str, float]:
  labels = tuple(f"class{i}" for i in range(num_classes))
  family = families.create(config, labels)
  mesh = train.make_mesh()
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  state = jax.jit(family.init, out_shardings=replicated)(jax.random.PRNGKey(0))
  size, channels = config.model.image_size, config.model.channels
  real = np.random.default_rng(0).uniform(
      -1, 1, (num_classes, config.batch_size * config.n_disc, size, size, channels))
  batch = {"real": jax.device_put(real.astype(np.float32), train.batch_sharding(mesh))}
  step = train.compile_train_step(family, mesh)
  t0 = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  for _ in range(warmup):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(state)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch)
  jax.block_until_ready((state, metrics))
  seconds = (time.perf_counter() - t0) / steps
  b = config.batch_size * config.n_disc
  images = num_classes * b + b + config.batch_size
  return {"compile_s": compile_s, "step_s": seconds, "steps_per_s": 1 / seconds,
          "images_per_s": images / seconds}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/jointgan.py")
  parser.add_argument("--classes", default="1,2,4,10", help="K values, comma-separated")
  parser.add_argument("--image_size", default=None, help="sizes, comma-separated (default: config)")
  parser.add_argument("--batch_size", type=int, default=None)
  parser.add_argument("--family", default=None)
  parser.add_argument("--d_norm", default=None)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=2)
  args = parser.parse_args()

  print(f"backend: {jax.default_backend()}  devices: {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}  jax {jax.__version__}")
  header = (f"{'family':8} {'K':>3} {'size':>5} {'batch':>5} {'norm':>8} {'compile s':>10} "
            f"{'step ms':>9} {'steps/s':>8} {'images/s':>9}")
  print(header)
  print("-" * len(header))
  sizes = [int(s) for s in args.image_size.split(",")] if args.image_size else [None]
  for size in sizes:
    for k in (int(x) for x in args.classes.split(",")):
      config = load_config(args.config)
      if size:
        config.model.image_size = size
      if args.batch_size:
        config.batch_size = args.batch_size
      if args.family:
        config.family = args.family
      if args.d_norm:
        config.model.d_norm = args.d_norm
      r = time_step(config, k, args.steps, args.warmup)
      print(f"{config.family:8} {k:>3} {config.model.image_size:>5} {config.batch_size:>5} "
            f"{config.model.d_norm:>8} {r['compile_s']:>10.1f} {1000 * r['step_s']:>9.1f} "
            f"{r['steps_per_s']:>8.2f} {r['images_per_s']:>9.0f}", flush=True)


if __name__ == "__main__":
  main()
