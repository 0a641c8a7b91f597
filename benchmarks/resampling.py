r"""Why models/resampling.py exists: stride-2 layers, stock Flax vs rearranged, fwd + bwd.

  python benchmarks/resampling.py [--batch=64] [--classes=2]

Times value-and-grad (w.r.t. input and kernel) of one layer at DCGAN 32x32 shapes:
  up:   nn.ConvTranspose(4, stride 2, 'SAME')      vs UpConv (3x3 conv + depth-to-space)
  down: nn.Conv(4, stride 2, padding 1)            vs DownConv (pad + space-to-depth + patches @ kernel)
and the same down layers vmapped over K class discriminators (nn.vmap, as in the JointGAN stack),
where a vmapped convolution becomes a grouped convolution.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from flax import linen as nn

from pegasus_jax.models.resampling import DownConv, UpConv


def _time(fn, *args, steps: int = 5) -> float:
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  t0 = time.perf_counter()
  for _ in range(steps):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / steps


def _grad_time(module: nn.Module, x: jax.Array) -> float:
  variables = module.init(jax.random.PRNGKey(0), x)
  loss = lambda v, x: jnp.sum(module.apply(v, x) ** 2)
  return _time(jax.grad(loss, argnums=(0, 1)), variables, x)


def _stacked(cls, k, **kwargs):
  return nn.vmap(cls, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=0,
                 axis_size=k)(**kwargs)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--classes", type=int, default=2)
  args = parser.parse_args()
  b, k = args.batch, args.classes
  print(f"backend: {jax.default_backend()}  batch {b}  K {k}  jax {jax.__version__}")
  rows = [
      ("up 8x8x128 -> 16x16x64", nn.ConvTranspose(64, (4, 4), (2, 2), padding="SAME"),
       UpConv(64), jnp.ones((b, 8, 8, 128))),
      ("down 32x32x64 -> 16x16x128", nn.Conv(128, (4, 4), (2, 2), padding=((1, 1), (1, 1))),
       DownConv(128), jnp.ones((b, 32, 32, 64))),
      ("down 8x8x256 -> 4x4x512", nn.Conv(512, (4, 4), (2, 2), padding=((1, 1), (1, 1))),
       DownConv(512), jnp.ones((b, 8, 8, 256))),
      (f"vmapped K={k}: down 16x16x128 -> 8x8x256",
       _stacked(nn.Conv, k, features=256, kernel_size=(4, 4), strides=(2, 2),
                padding=((1, 1), (1, 1))),
       _stacked(DownConv, k, features=256), jnp.ones((k, 2 * b, 16, 16, 128))),
  ]
  print(f"{'layer (fwd + bwd)':42} {'stock ms':>9} {'ours ms':>9} {'speed-up':>9}")
  for name, stock, ours, x in rows:
    t_stock, t_ours = _grad_time(stock, x), _grad_time(ours, x)
    print(f"{name:42} {1000 * t_stock:>9.1f} {1000 * t_ours:>9.1f} {t_stock / t_ours:>8.1f}x",
          flush=True)


if __name__ == "__main__":
  main()
