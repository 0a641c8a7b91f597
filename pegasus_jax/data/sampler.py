"""Deterministic, step-indexed batches from in-memory class arrays.

Each class is shuffled once per epoch with a permutation seeded by (seed, class, epoch,
process); step s takes the next `local_batch` indices of every class, and horizontal flips are
seeded by (seed, class, step, process). Nothing depends on how many steps ran before in this
process, which is what makes resume exact.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class StepIndexedSampler:
  """`batch(step)` -> {'real': float32 (K, local_batch, H, W, C) in [-1, 1]}."""

  def __init__(self, labels: Sequence[str], class_images: Sequence[np.ndarray], *,
               local_batch: int, seed: int, process_index: int = 0, random_flip: bool = True):
    self.labels = tuple(labels)
    self.class_images = list(class_images)
    self.local_batch = local_batch
    self.seed = seed
    self.process_index = process_index
    self.random_flip = random_flip
    shapes = {images.shape[1:] for images in self.class_images}
    if len(shapes) != 1:
      raise ValueError(f"classes have different image shapes: {sorted(shapes)}")
    for label, images in zip(self.labels, self.class_images):
      if len(images) < local_batch:
        raise ValueError(
            f"class {label!r} has {len(images)} images on this process, fewer than the "
            f"{local_batch} a step needs; lower config.batch_size or use more data")
    self._permutations: dict[tuple[int, int], np.ndarray] = {}

  @property
  def image_shape(self) -> tuple[int, ...]:
    return self.class_images[0].shape[1:]

  def steps_per_epoch(self, class_index: int) -> int:
    return len(self.class_images[class_index]) // self.local_batch

  def position(self, step: int) -> dict[str, dict[str, int]]:
    """Where each class's stream stands before `step`: {label: {'epoch', 'batch_in_epoch'}}."""
    out = {}
    for k, label in enumerate(self.labels):
      epoch, offset = divmod(step, self.steps_per_epoch(k))
      out[label] = {"epoch": epoch, "batch_in_epoch": offset}
    return out

  def _permutation(self, class_index: int, epoch: int) -> np.ndarray:
    key = (class_index, epoch)
    if key not in self._permutations:
      if len(self._permutations) > 4 * len(self.labels):
        self._permutations.clear()
      rng = np.random.default_rng((self.seed, class_index, epoch, self.process_index))
      self._permutations[key] = rng.permutation(len(self.class_images[class_index]))
    return self._permutations[key]

  def batch(self, step: int) -> dict[str, np.ndarray]:
    per_class = []
    for k, images in enumerate(self.class_images):
      epoch, offset = divmod(step, self.steps_per_epoch(k))
      indices = self._permutation(k, epoch)[offset * self.local_batch:
                                             (offset + 1) * self.local_batch]
      chosen = images[indices]
      if self.random_flip:
        rng = np.random.default_rng((self.seed, k, step, self.process_index, 1))
        flip = rng.random(self.local_batch) < 0.5
        chosen = np.where(flip[:, None, None, None], chosen[:, :, ::-1], chosen)
      per_class.append(chosen)
    real = np.stack(per_class).astype(np.float32) / 127.5 - 1.0
    return {"real": real}
