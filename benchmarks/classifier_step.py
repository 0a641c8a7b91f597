r"""The classifier's train step with and without the GEMM kernel gradient on its first conv.

  python benchmarks/classifier_step.py [configs/classifier.py:judge]

Before 2026-12-05 `models/fast_cifar.Conv3x3` left layers with fewer than 32 input channels (the
first conv: 24 whitened channels at 31x31) on XLA's own kernel gradient; now every layer takes
the GEMM one. "before" swaps `fast_cifar.conv_matmul_grad` (looked up at trace time) for a
function that restores that rule; "after" is the model as it is. Each step is timed twice,
alternating, in one process (`train_step.time_step`: a fixed batch already on the device, 6
timed steps after 2 warm-up).
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from pegasus_jax.models import fast_cifar  # noqa: E402
from train_step import load_config, time_step  # noqa: E402


OLD_MIN_CHANNELS = 32  # below this many input channels the old rule kept XLA's kernel gradient
GEMM_GRAD = fast_cifar.conv_matmul_grad


def old_rule(x, kernel):
  """The rule before 2026-12-05: XLA's own kernel gradient for thin inputs."""
  if x.shape[-1] < OLD_MIN_CHANNELS:
    return fast_cifar._conv_same(x, kernel)  # pylint: disable=protected-access
  return GEMM_GRAD(x, kernel)


def main() -> None:
  spec = sys.argv[1] if len(sys.argv) > 1 else "configs/classifier.py:judge"
  print(f"{spec}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
  for _ in range(2):
    for name, conv in (("before", old_rule), ("after", GEMM_GRAD)):
      fast_cifar.conv_matmul_grad = conv
      config = load_config(os.path.join(REPO, spec))
      r = time_step(config, 10, 6, 2)
      images = config.batch_size * 10  # batch_size images per class, 10 classes
      print(f"{name:7} {images} images: step {1000 * r['step_s']:.0f} ms, "
            f"{images / r['step_s']:.0f} images/s (compile {r['compile_s']:.1f} s)", flush=True)


if __name__ == "__main__":
  main()
