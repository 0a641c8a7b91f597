"""Metric writers and per-class metric names (TensorBoard + log lines)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax
import numpy as np
from clu import metric_writers

from pegasus_jax.run import event_files, paths


def create_writer(workdir: str) -> metric_writers.MetricWriter:
  """TensorBoard events + log lines from process 0; other processes only log.

  A local workdir gets clu's default (tf.summary) writer; one on object storage, or any
  workdir where TensorFlow is not installed, gets `event_files.EventFileWriter`, which writes
  the same events through `pegasus_jax.run.paths`.
  """
  if jax.process_index() > 0 or (paths.is_local(workdir) and _has_tensorflow()):
    return metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0, asynchronous=True)
  return metric_writers.AsyncMultiWriter([metric_writers.LoggingWriter(),
                                          event_files.EventFileWriter(workdir)])


def _has_tensorflow() -> bool:
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import  # noqa: F401
  except ImportError:
    return False
  return True


def flatten_metrics(metrics: Mapping[str, np.ndarray], labels: Sequence[str]
                    ) -> dict[str, float]:
  """Scalars stay as they are; per-class vectors (K,) become `name/<label>` scalars."""
  flat = {}
  for name, value in metrics.items():
    value = np.asarray(value)
    if value.ndim == 0:
      flat[name] = float(value)
    elif value.shape == (len(labels),):
      for label, item in zip(labels, value):
        flat[f"{name}/{label}"] = float(item)
    else:
      raise ValueError(f"metric {name!r} has shape {value.shape}; expected () or "
                       f"({len(labels)},) for classes {list(labels)}")
  return flat


def non_finite(metrics: Mapping[str, float]) -> list[str]:
  return sorted(name for name, value in metrics.items() if not math.isfinite(value))
