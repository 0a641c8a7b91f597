"""uint8 pictures: model-range conversion, grids and PNG files (no TensorBoard here)."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from pegasus_jax.run import paths


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


def png_bytes(image: np.ndarray) -> bytes:
  """A uint8 (H, W, C) image encoded as PNG (C = 1: greyscale)."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return buffer.getvalue()


def save_png(path: paths.PathLike, image: np.ndarray) -> None:
  """Write a PNG to a local path or object storage (encoded in memory, written in one go)."""
  paths.write_bytes(path, png_bytes(image))
