r"""The classifier's train step with and without the GEMM kernel gradient on its first conv.

  python benchmarks/classifier_step.py [configs/classifier.py:judge]

Before 2026-12-05 `models/fast_cifar.Conv3x3` left layers with fewer than 32 input channels (the
first conv: 24 whitened channels at 31x31) on XLA's own kernel gradient; now every layer takes
the GEMM one. This sets the threshold (`fast_cifar.MATMUL_GRAD_MIN_CHANNELS`, read at trace
time) to 32 ("before") and 0 ("after") and times each step twice, alternating, in one process
(`train_step.time_step`: a fixed batch already on the device, 6 timed steps after 2 warm-up).
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from pegasus_jax.models import fast_cifar  # noqa: E402
from train_step import load_config, time_step  # noqa: E402


def main() -> None:
  spec = sys.argv[1] if len(sys.argv) > 1 else "configs/classifier.py:judge"
  print(f"{spec}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
  for _ in range(2):
    for name, threshold in (("before", 32), ("after", 0)):
      fast_cifar.MATMUL_GRAD_MIN_CHANNELS = threshold
      config = load_config(os.path.join(REPO, spec))
      r = time_step(config, 10, 6, 2)
      images = config.batch_size * 10  # batch_size images per class, 10 classes
      print(f"{name:7} {images} images: step {1000 * r['step_s']:.0f} ms, "
            f"{images / r['step_s']:.0f} images/s (compile {r['compile_s']:.1f} s)", flush=True)


if __name__ == "__main__":
  main()
