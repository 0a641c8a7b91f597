r"""Run a command-line module like `python -m`, also where TensorFlow is not installed.

  python benchmarks/run_module.py pegasus_jax.main --config=... --workdir=...
  python benchmarks/run_module.py benchmarks/train_step.py --classes=1   # a script, by path

Why: the lent GPU machines (benchmarks/device_run.sh) have JAX but no TensorFlow, and no
TensorFlow wheel fits in what a call may carry there (64 MiB). This project needs TensorFlow
only to read TFDS data, but clu 0.0.12's `clu.metric_writers` imports its tf.summary writer,
and with it TensorFlow, when it is imported. Where `import tensorflow` fails, this puts a
stand-in for that one module in `sys.modules` before anything imports clu (constructing its
`SummaryWriter` raises); `pegasus_jax.run.metrics` then writes TensorBoard events through its own
`event_files.EventFileWriter`. Where TensorFlow is installed it only runs the module.
"""

from __future__ import annotations

import runpy
import sys
import types

CLU_SUMMARY_WRITER = "clu.metric_writers.summary_writer"


class _NoTensorFlowSummaryWriter:
  """Stands in for clu's tf.summary writer where TensorFlow is missing."""

  def __init__(self, *args, **kwargs):
    raise ImportError("clu's SummaryWriter needs TensorFlow, which is not installed here; "
                      "pegasus_jax.run.metrics writes events with event_files.EventFileWriter")


def stand_in_for_tensorflow_writer() -> bool:
  """Install the stand-in if TensorFlow cannot be imported; True when it was installed."""
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import  # noqa: F401
  except ImportError:
    module = types.ModuleType(CLU_SUMMARY_WRITER, _NoTensorFlowSummaryWriter.__doc__)
    module.SummaryWriter = _NoTensorFlowSummaryWriter
    sys.modules[CLU_SUMMARY_WRITER] = module
    return True
  return False


def main(argv: list[str]) -> None:
  if len(argv) < 2 or argv[1].startswith("-"):
    print("usage: python benchmarks/run_module.py MODULE|SCRIPT.py [ARGS ...]", file=sys.stderr)
    sys.exit(2)
  target, args = argv[1], argv[2:]
  stand_in_for_tensorflow_writer()
  sys.argv = [target, *args]
  if target.endswith(".py"):  # a script such as benchmarks/train_step.py
    runpy.run_path(target, run_name="__main__")
  else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main(sys.argv)
