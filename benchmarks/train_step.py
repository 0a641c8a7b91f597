r"""Time one jitted train step of any config: compile time, steps/s and real examples/s.

  python benchmarks/train_step.py                      # JointGAN 32x32, K = 1, 2, 4, 10
  python benchmarks/train_step.py --classes=2 --image_size=64,128 --family=dcgan
  python benchmarks/train_step.py --config=configs/sngan_cifar.py --classes=1
  python benchmarks/train_step.py --config=configs/cgan_cifar.py --classes=10 --set=n_disc=1

Each row builds the family from the config (default: configs/jointgan.py, full size) for K
classes, feeds a fixed random batch of exactly the family's data spec, already on the devices
(so data loading is not timed), runs `--warmup` steps, then times `--steps` steps with one host
sync at the end. "real/s" counts the real examples a step consumes (K x batch x n_disc for the
class-balanced GANs, batch x n_disc for the conditional GAN): the images/s of the data pipeline
that this step needs.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import math
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pegasus_jax import families, train  # noqa: E402
from pegasus_jax.data.spec import DataInfo  # noqa: E402
from pegasus_jax.run import runtime  # noqa: E402


def load_config(spec: str):
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("bench_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def random_batch(spec, num_classes: int, seed: int = 0) -> dict[str, np.ndarray]:
  """Random values of each field's shape and dtype (labels in [0, K))."""
  rng = np.random.default_rng(seed)
  batch = {}
  for name, field in spec.items():
    if np.issubdtype(np.dtype(field.dtype), np.integer):
      batch[name] = rng.integers(0, num_classes, field.shape).astype(field.dtype)
    else:
      batch[name] = rng.uniform(-1, 1, field.shape).astype(field.dtype)
  return batch


def time_family_step(family, mesh, steps: int, warmup: int) -> dict[str, float]:
  """Compile and time `family`'s jitted train step on one fixed random batch on the devices."""
  state = jax.jit(family.init, out_shardings=runtime.replicated(mesh))(jax.random.PRNGKey(0))
  spec = family.data_spec()
  shardings = runtime.batch_shardings(mesh, spec)
  batch = {k: jax.device_put(v, shardings[k])
           for k, v in random_batch(spec, len(family.class_labels)).items()}
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
  real = max(math.prod(f.shape[:f.batch_axis + 1]) for f in spec.values())
  return {"compile_s": compile_s, "step_s": seconds, "steps_per_s": 1 / seconds,
          "real_per_s": real / seconds}


def time_step(config, num_classes: int, steps: int, warmup: int) -> dict[str, float]:
  """`time_family_step` of the family `config` builds for K = num_classes classes."""
  labels = tuple(f"class{i}" for i in range(num_classes))
  size, channels = config.data.image_size, config.data.channels
  family = families.create(config, DataInfo(labels, {"image": (size, size, channels)}))
  return time_family_step(family, runtime.make_mesh(), steps, warmup)


def set_field(config, assignment: str) -> None:
  """`a.b=value`: config.a.b = the Python literal `value` (or the string, if not a literal)."""
  name, _, text = assignment.partition("=")
  *parents, leaf = name.split(".")
  target = config
  for parent in parents:
    target = target[parent]
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  target[leaf] = value


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/jointgan.py")
  parser.add_argument("--classes", default="1,2,4,10", help="K values, comma-separated")
  parser.add_argument("--image_size", default=None, help="sizes, comma-separated (default: config)")
  parser.add_argument("--batch_size", type=int, default=None)
  parser.add_argument("--family", default=None)
  parser.add_argument("--set", action="append", default=[], help="field=value override")
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=2)
  args = parser.parse_args()

  print(f"backend: {jax.default_backend()}  devices: {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}  jax {jax.__version__}  config: {args.config}")
  header = (f"{'family':10} {'K':>3} {'size':>5} {'batch':>5} {'n_disc':>6} {'compile s':>10} "
            f"{'step ms':>9} {'steps/s':>8} {'real/s':>8}")
  print(header)
  print("-" * len(header))
  sizes = [int(s) for s in args.image_size.split(",")] if args.image_size else [None]
  for size in sizes:
    for k in (int(x) for x in args.classes.split(",")):
      config = load_config(args.config)
      if size:
        config.data.image_size = size
      if args.batch_size:
        config.batch_size = args.batch_size
      if args.family:
        config.family = args.family
      for assignment in args.set:
        set_field(config, assignment)
      r = time_step(config, k, args.steps, args.warmup)
      print(f"{config.family:10} {k:>3} {config.data.image_size:>5} {config.batch_size:>5} "
            f"{config.get('n_disc', 1):>6} {r['compile_s']:>10.1f} {1000 * r['step_s']:>9.1f} "
            f"{r['steps_per_s']:>8.2f} {r['real_per_s']:>8.0f}", flush=True)


if __name__ == "__main__":
  main()
