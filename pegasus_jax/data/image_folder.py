"""Any folder of JPEG/PNG files as training data, decoded once into memory as uint8.

`data.name='image_folder'`, `data.path=DIR`. Files are found recursively (hidden files and
folders skipped) and sorted by relative path, so the order -- and with it every batch of the
step-indexed sampler -- is the same on every machine. Each image is composited on white if it
has transparency (RGBA, LA, palette PNGs), center-cropped to a square and resized to
`data.image_size` with area averaging (PIL's BOX filter; bicubic when enlarging).

Classes come from `data.classes`, like the TFDS sources:
- `('all',)` (what the image-folder configs use): every image under DIR is one class, 'all'.
  This is plain single-discriminator training (family 'dcgan', or 'jointgan' with K = 1): a
  folder of faces or Pokemon has no labels, and needs none.
- otherwise each entry names a sub-folder of DIR (a relative path, 'cats' or 'animals/cats';
  every image below it, recursively, belongs to that class) or a union 'cats+dogs'; one
  discriminator per entry, so `('horse', 'bird')` on a folder with horse/ and bird/ is the
  JointGAN pegasus on your own images.
Unreadable files are skipped and counted in the log; a missing folder, a folder without
images, or a class without readable images is an error.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Sequence

import numpy as np
from absl import logging
from PIL import Image

from pegasus_jax.data.tfds_source import ALL_CLASSES, ClassImages, DatasetMissingError
from pegasus_jax.errors import ConfigError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def list_image_files(root: str) -> list[str]:
  """Relative paths of the JPEG/PNG files under `root`, recursively, sorted; hidden ones skipped."""
  if not os.path.isdir(root):
    raise DatasetMissingError(
        f"config.data.path={root!r} is not a directory (resolved to {os.path.abspath(root)}); "
        "pass --config.data.path=DIR, a folder of JPEG/PNG images (relative paths are relative "
        "to the current directory)")
  found = []
  for directory, subdirs, files in os.walk(root):
    subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    for name in files:
      if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
        found.append(os.path.relpath(os.path.join(directory, name), root))
  found.sort()
  if not found:
    raise DatasetMissingError(
        f"config.data.path={root!r} holds no JPEG/PNG files (looked recursively for "
        f"{', '.join(IMAGE_EXTENSIONS)})")
  return found


def _subfolders(root: str) -> list[str]:
  return sorted(d for d in os.listdir(root)
                if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))


def resolve_folder_classes(root: str, classes: Sequence[str | int], files: Sequence[str]
                           ) -> list[tuple[str, list[str]]]:
  """(label, sorted files) per class entry: ('all',) takes every file, else sub-folders."""
  resolved = []
  for entry in classes:
    entry = str(entry)
    if entry == ALL_CLASSES:
      resolved.append((entry, list(files)))
      continue
    chosen = []
    for part in entry.split("+"):
      part = part.strip().strip("/")
      prefix = os.path.normpath(part) + os.sep
      if not part or not os.path.isdir(os.path.join(root, part)):
        raise ConfigError(
            f"config.data.classes: {part!r} is not a sub-folder of {root}; sub-folders there: "
            f"{_subfolders(root)} (or use ('{ALL_CLASSES}',) for every image as one class)")
      chosen.extend(f for f in files if f.startswith(prefix))
    resolved.append((entry, sorted(set(chosen))))
  labels = [label for label, _ in resolved]
  if len(set(labels)) != len(labels):
    raise ConfigError(f"config.data.classes lists a class twice: {labels}")
  return resolved


def composite_on_white(image: Image.Image) -> Image.Image:
  """RGB with any transparency blended onto white: out = a * rgb + (1 - a) * 255."""
  if image.mode == "P" and "transparency" in image.info:
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA", "PA"):
    rgba = np.asarray(image.convert("RGBA"), np.float32)
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
  return image.convert("RGB")


def square_resize(image: Image.Image, size: int | None) -> Image.Image:
  """Center-crop to a square, then resize to size x size (area average when shrinking)."""
  w, h = image.size
  side = min(w, h)
  left, top = (w - side) // 2, (h - side) // 2
  image = image.crop((left, top, left + side, top + side))
  if size is None or side == size:
    return image
  return image.resize((size, size), Image.BOX if side > size else Image.BICUBIC)


def decode_image(path: str, image_size: int | None, channels: int = 3) -> np.ndarray:
  """One file -> uint8 (S, S, channels); raises (OSError, ValueError, ...) when unreadable."""
  with Image.open(path) as image:
    image.load()
    image = square_resize(composite_on_white(image), image_size)
  if channels == 1:
    image = image.convert("L")
  array = np.asarray(image, np.uint8)
  return array[..., None] if array.ndim == 2 else array


def _decode_all(root: str, files: Sequence[str], image_size: int | None, channels: int,
                workers: int) -> tuple[list[np.ndarray | None], list[tuple[str, str]]]:
  def one(name: str):
    try:
      return decode_image(os.path.join(root, name), image_size, channels), None
    except Exception as e:  # PIL raises many types for broken files; skip and report them
      return None, f"{type(e).__name__}: {e}"

  with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
    results = list(pool.map(one, files))
  failures = [(name, error) for name, (_, error) in zip(files, results) if error]
  return [array for array, _ in results], failures


def load_folder_images(path: str, classes: Sequence[str | int] = (ALL_CLASSES,), *,
                       image_size: int | None = None, channels: int = 3,
                       process_index: int = 0, process_count: int = 1,
                       workers: int | None = None) -> ClassImages:
  """This process's share of each class of the folder, decoded to uint8 arrays in memory.

  Each class's sorted file list is split into `process_count` equal contiguous shards (the
  remainder dropped, as `tfds.even_splits(drop_remainder=True)` does), so hosts read disjoint
  files and only decode their own.
  """
  files = list_image_files(path)
  resolved = resolve_folder_classes(path, classes, files)
  per_class_files = []
  for label, class_files in resolved:
    share = len(class_files) // process_count
    per_class_files.append(class_files[process_index * share:(process_index + 1) * share])
  wanted = sorted({f for fs in per_class_files for f in fs})
  workers = workers or min(8, os.cpu_count() or 1)
  arrays, failures = _decode_all(path, wanted, image_size, channels, workers)
  decoded = {name: array for name, array in zip(wanted, arrays) if array is not None}
  if failures:
    shown = "; ".join(f"{name} ({error})" for name, error in failures[:5])
    logging.warning("image folder %s: skipped %d unreadable file(s) of %d: %s%s", path,
                    len(failures), len(wanted), shown, " ..." if len(failures) > 5 else "")
  images = []
  for (label, _), class_files in zip(resolved, per_class_files):
    kept = [decoded[f] for f in class_files if f in decoded]
    if not kept:
      raise DatasetMissingError(
          f"config.data.classes: class {label!r} has no readable images under {path} "
          f"(process {process_index} of {process_count}, {len(class_files)} file(s) tried)")
    shapes = {a.shape for a in kept}
    if len(shapes) != 1:  # only possible with image_size=None and mixed sizes
      raise ConfigError(f"images under {path} have different shapes {sorted(shapes)}; set "
                       "data.image_size to resize them")
    images.append(np.stack(kept))
  logging.info("image folder %s: %s (%d unreadable skipped)", path,
               ", ".join(f"{label}: {len(a)}" for (label, _), a in zip(resolved, images)),
               len(failures))
  return ClassImages(tuple(label for label, _ in resolved), images)
