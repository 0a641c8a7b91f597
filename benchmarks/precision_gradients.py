r"""How far a bfloat16 train step's gradients are from float32's: one step of a config, both ways.

  python benchmarks/precision_gradients.py --config=configs/sngan_cifar.py:cpu --classes=1
  python benchmarks/precision_gradients.py --config=configs/classifier.py:cpu --classes=10
  python benchmarks/precision_gradients.py --config=configs/cyclegan_mnist.py:cpu

Both runs start from the same float32 state (bf16 changes no parameter) and take one step on the
same random batch of the family's data spec. Each optimiser's gradient is read from its state
after that step: Adam's first moment is then exactly (1 - b1) * gradient, SGD's momentum trace
the gradient (its weight decay term is the same in both runs). Printed per optimiser: the
gradient's relative difference |g_bf16 - g_f32| / |g_f32| and the cosine between them.

A third run, the floor, is float32 arithmetic from the parameters rounded to bf16 (what any bf16
convolution or matmul multiplies by): its difference from float32 is how sensitive the gradient
itself is to a 2**-9 relative change of the weights, with no bf16 arithmetic at all. Where that
is large (BiGAN's and CycleGAN's first steps, whose gradients cancel heavily in the normalisation
layers), no bf16 path can come closer than about the floor.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.train_step import load_config, random_batch  # noqa: E402
from pegasus_jax import families  # noqa: E402
from pegasus_jax.data.spec import DataInfo  # noqa: E402


def data_info(config, num_classes: int) -> DataInfo:
  """What the family is built from: K classes of the config's images (CycleGAN: its two domains)."""
  size, channels = config.data.image_size, config.data.channels
  if "domain_b" in config.data:
    return DataInfo(("a", "b"), {"a": (size, size, channels),
                                 "b": (size, size, config.data.domain_b.channels)})
  return DataInfo(tuple(f"class{i}" for i in range(num_classes)),
                  {"image": (size, size, channels)})


def rounded_to_bfloat16(state):
  """`state` with every parameter tree (fields ending in 'params') rounded to bf16, kept float32."""
  rounded = {name: jax.tree_util.tree_map(
      lambda leaf: leaf.astype(jnp.bfloat16).astype(leaf.dtype), getattr(state, name))
      for name in vars(state) if name.endswith("params")}
  return state.replace(**rounded)


def first_gradients(state) -> dict[str, np.ndarray]:
  """Each optimiser's gradient after its first update, flattened, by state field name."""
  gradients = {}
  for name in vars(state):
    if not name.endswith("opt_state"):
      continue
    opt_state = getattr(state, name)
    for key in ("mu", "trace"):  # Adam's first moment, SGD's momentum
      found = [tree for _, tree in optax.tree_utils.tree_get_all_with_path(opt_state, key)
               if jax.tree_util.tree_leaves(tree)]
      if found:
        gradients[name.removesuffix("opt_state").rstrip("_") or "params"] = np.concatenate(
            [np.ravel(np.asarray(leaf, np.float64))
             for leaf in jax.tree_util.tree_leaves(found[0])])
        break
  return gradients


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/jointgan.py:cpu")
  parser.add_argument("--classes", type=int, default=1, help="K for class-balanced families")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  results = {}
  state = batch = None
  for name in ("float32", "bfloat16", "floor"):
    config = load_config(args.config)
    config.precision = "float32" if name == "floor" else name
    family = families.create(config, data_info(config, args.classes))
    if state is None:  # the float32 family's state, the start of every run
      state = jax.jit(family.init)(jax.random.PRNGKey(args.seed))
      batch = random_batch(family.data_spec(), args.classes)
    start = rounded_to_bfloat16(state) if name == "floor" else state
    new_state, _ = jax.jit(family.train_step)(start, batch)
    results[name] = first_gradients(new_state)
  print(f"{args.config}: jax {jax.__version__} on {jax.default_backend()}")
  for net, full in results["float32"].items():
    mixed, floor = results["bfloat16"][net], results["floor"][net]
    difference = np.linalg.norm(mixed - full) / np.linalg.norm(full)
    cosine = full @ mixed / np.linalg.norm(full) / np.linalg.norm(mixed)
    floor_difference = np.linalg.norm(floor - full) / np.linalg.norm(full)
    print(f"  {net:10} gradient relative difference {difference:.4f}   cosine {cosine:.5f}   "
          f"floor (float32 at bf16-rounded parameters) {floor_difference:.4f}")


if __name__ == "__main__":
  main()
