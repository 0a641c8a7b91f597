r"""The guide term's cost per test-time view: forward + input gradient of a frozen classifier.

  python benchmarks/guide_views.py --guide=assets/guide --batch=32

What the guide term (`config.guide`) adds to every generator step is one forward pass and one
input-gradient pass of the frozen guide per view (`guide.tta`). The committed guide averages two
views (image and mirror). Prints a table: milliseconds per call (best of 3 rounds of 10) for the
two views as two passes (what `predict_with_views` does), the two as one batch, and one view.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from pegasus_jax.families import frozen_classifier  # noqa: E402


def time_call(fn: Callable[[jax.Array], tuple[jax.Array, jax.Array]], x: jax.Array,
              rounds: int = 3, calls: int = 10) -> float:
  """Best per-call milliseconds over `rounds` rounds of `calls` calls, after one warm-up."""
  jax.block_until_ready(fn(x))
  best = float("inf")
  for _ in range(rounds):
    start = time.perf_counter()
    for _ in range(calls):
      out = fn(x)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - start) / calls)
  return 1000.0 * best


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--guide", default=os.path.join(REPO, "assets", "guide"))
  parser.add_argument("--batch", type=int, default=32, help="fakes per generator step")
  args = parser.parse_args(argv)
  frozen = frozen_classifier.load(args.guide, "--guide")
  variables = {"params": frozen.state.params, "batch_stats": frozen.state.batch_stats}
  logits = lambda x: frozen.family.model.apply(variables, x, train=False)[0]
  n = args.batch
  forms = {
      "two views, two passes": lambda x: (logits(x) + logits(x[:, :, ::-1])) / 2,
      "two views, one batch": lambda x: (lambda l: (l[:n] + l[n:]) / 2)(
          logits(jnp.concatenate([x, x[:, :, ::-1]]))),
      "one view": logits,
  }
  x = jax.random.uniform(jax.random.PRNGKey(0), (n,) + tuple(frozen.image_shape), minval=-1.0,
                         maxval=1.0)
  print(f"backend {jax.default_backend()}, guide {args.guide}, batch {n}")
  print("| form | forward + input gradient ms |\n|---|---:|")
  for name, form in forms.items():
    fn = jax.jit(jax.value_and_grad(lambda x, f=form: jnp.sum(jax.nn.log_softmax(f(x)))))
    print(f"| {name} | {time_call(fn, x):.1f} |", flush=True)


if __name__ == "__main__":
  main()
