r"""Which convolution the SN-GAN ResNet should use: PatchConv's patches @ kernel vs lax conv, fwd + bwd.

  python benchmarks/sngan_resnet.py [--batch=64] [--ks=1,2,4] [--steps=2]
      [--downsample=avg_pool] [--upsample=nearest] [--d_width=128] [--g_width=256]

Times one jitted value-and-grad at the paper's 32x32 shapes, for both `conv_impl`s:
  stacked D: `class_discriminators(K)` on (K, batch) images, update_stats=True, gradient w.r.t.
             the parameters and the images (the generator step needs the latter);
  G:         the generator with batch statistics, gradient w.r.t. its parameters.
On XLA:CPU the conv form of the stacked D is a grouped convolution (vmap over K); the matmul form
is a batched matmul. Mean of `--steps` calls after one warm-up call; compile time not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pegasus_jax.models import sngan_resnet  # noqa: E402
from pegasus_jax.models.dcgan import SPECTRAL_COLLECTION  # noqa: E402


def _time(fn, *args, steps: int) -> float:
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(steps):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / steps


def time_stacked_d(k: int, batch: int, impl: str, args) -> float:
  stack = sngan_resnet.class_discriminators(
      k, width=args.d_width, downsample=args.downsample, conv_impl=impl)
  x = jax.random.normal(jax.random.PRNGKey(1), (k, batch, 32, 32, 3))
  variables = jax.jit(lambda key: stack.init(key, x, False, True))(jax.random.PRNGKey(0))

  def loss(params, images):
    logits, state = stack.apply({**variables, "params": params}, images, True, True,
                                mutable=[SPECTRAL_COLLECTION])
    return jnp.sum(logits), state

  grad = jax.grad(loss, argnums=(0, 1), has_aux=True)
  return _time(grad, variables["params"], x, steps=args.steps)


def time_generator(batch: int, impl: str, args) -> float:
  generator = sngan_resnet.Generator(width=args.g_width, upsample=args.upsample, conv_impl=impl)
  z = jax.random.normal(jax.random.PRNGKey(1), (batch, 128))
  variables = jax.jit(lambda key: generator.init(key, z, train=False))(jax.random.PRNGKey(0))

  def loss(params):
    images, state = generator.apply({**variables, "params": params}, z, train=True,
                                    mutable=["batch_stats"])
    return jnp.sum(images ** 2), state

  return _time(jax.grad(loss, has_aux=True), variables["params"], steps=args.steps)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--ks", default="1,2,4")
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--downsample", default="avg_pool")
  parser.add_argument("--upsample", default="nearest")
  parser.add_argument("--d_width", type=int, default=128)
  parser.add_argument("--g_width", type=int, default=256)
  parser.add_argument("--skip_g", action="store_true")
  args = parser.parse_args()
  print(f"backend: {jax.default_backend()}  batch {args.batch}  jax {jax.__version__}  "
        f"D width {args.d_width} ({args.downsample})  G width {args.g_width} ({args.upsample})  "
        f"load {os.getloadavg()[0]:.2f}")
  rows = [(f"stacked D K={k}", lambda impl, k=int(k): time_stacked_d(k, args.batch, impl, args))
          for k in args.ks.split(",")]
  if not args.skip_g:
    rows.append(("G", lambda impl: time_generator(args.batch, impl, args)))
  print(f"{'fwd + bwd':18} {'matmul ms':>10} {'conv ms':>10} {'conv/matmul':>12} {'load':>6}")
  for name, run in rows:
    t_matmul, t_conv = run("matmul"), run("conv")
    print(f"{name:18} {1000 * t_matmul:>10.0f} {1000 * t_conv:>10.0f} "
          f"{t_conv / t_matmul:>11.2f}x {os.getloadavg()[0]:>6.2f}", flush=True)


if __name__ == "__main__":
  main()
