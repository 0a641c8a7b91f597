"""Metric writers, per-class metric names and image grids (TensorBoard + PNG)."""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import jax
import numpy as np
from clu import metric_writers
from PIL import Image


def create_writer(workdir: str) -> metric_writers.MetricWriter:
  """TensorBoard events + log lines from process 0; other processes only log."""
  return metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=True)


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


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8 [0, 255] (rounded, clipped)."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(
      np.uint8)


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
  """(N, H, W, C) images in [-1, 1] or uint8 -> one uint8 (rows*H', cols*W', C) grid."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = to_uint8(images)
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255,
                 np.uint8)
  for i in range(n):
    r, col = divmod(i, columns)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = images[i]
  return grid


def save_png(path: str, image: np.ndarray) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  image = image[..., 0] if image.shape[-1] == 1 else image
  Image.fromarray(image).save(path)
