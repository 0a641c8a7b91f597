"""Deterministic, step-indexed batches from in-memory arrays.

Every sampler's `batch(step)` is a pure function of (seed, step, process): each stream is
shuffled once per epoch with a permutation seeded by (seed, stream, epoch, process), step s takes
the next slice of it, and random flips are seeded by (seed, stream, step, process). Nothing
depends on how many steps ran before in this process, which is what makes resume exact.

- `ClassBalancedSampler`: {'real': (K, n, H, W, C)}, n images of every class (JointGAN, DCGAN,
  the evaluation classifier: the class is the row);
- `LabelledSampler`: {'image': (n, H, W, C), 'label': (n,)}, uniform over the images of all
  requested classes, label = index of the class (the conditional GAN).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError


class _EpochPermutations:
  """Per-(stream, epoch) permutations of a stream's indices, seeded, cached a few at a time."""

  def __init__(self, sizes: Sequence[int], seed: int, process_index: int):
    self.sizes = list(sizes)
    self.seed = seed
    self.process_index = process_index
    self._cache: dict[tuple[int, int], np.ndarray] = {}

  def indices(self, stream: int, step: int, per_step: int) -> np.ndarray:
    """The `per_step` indices of `stream` that step `step` takes."""
    epoch, offset = divmod(step, self.sizes[stream] // per_step)
    key = (stream, epoch)
    if key not in self._cache:
      if len(self._cache) > 4 * len(self.sizes):
        self._cache.clear()
      rng = np.random.default_rng((self.seed, stream, epoch, self.process_index))
      self._cache[key] = rng.permutation(self.sizes[stream])
    return self._cache[key][offset * per_step:(offset + 1) * per_step]


def to_model_range(images: np.ndarray, flip: np.ndarray | None) -> np.ndarray:
  """uint8 (..., n, H, W, C) -> float32 in [-1, 1], mirrored where `flip` (n,) is True."""
  if flip is not None:
    images = np.where(flip[:, None, None, None], images[..., :, ::-1, :], images)
  return images.astype(np.float32) / 127.5 - 1.0


def _flip_mask(enabled: bool, seed: int, stream: int, step: int, process_index: int,
               num: int) -> np.ndarray | None:
  if not enabled:
    return None
  return np.random.default_rng((seed, stream, step, process_index, 1)).random(num) < 0.5


def _check_enough(labels: Sequence[str], class_images: Sequence[np.ndarray], needed: int) -> None:
  for label, images in zip(labels, class_images):
    if len(images) < needed:
      raise ConfigError(
          f"class {label!r} has {len(images)} images on this process, fewer than the "
          f"{needed} a step needs; lower config.batch_size or use more data")


class ClassBalancedSampler:
  """`batch(step)` -> {'real': float32 (K, local_batch, H, W, C) in [-1, 1]}."""

  name = "class_balanced"

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
      raise ConfigError(f"classes have different image shapes: {sorted(shapes)}")
    _check_enough(self.labels, self.class_images, local_batch)
    self._permutations = _EpochPermutations([len(x) for x in self.class_images], seed,
                                            process_index)

  @property
  def image_shape(self) -> tuple[int, ...]:
    return self.class_images[0].shape[1:]

  @property
  def fields(self) -> dict[str, FieldSpec]:
    shape = (len(self.labels), self.local_batch) + self.image_shape
    return {"real": FieldSpec(shape, "float32", batch_axis=1)}

  def steps_per_epoch(self, class_index: int) -> int:
    return len(self.class_images[class_index]) // self.local_batch

  def position(self, step: int) -> dict[str, dict[str, int]]:
    """Where each class's stream stands before `step`: {label: {'epoch', 'batch_in_epoch'}}."""
    out = {}
    for k, label in enumerate(self.labels):
      epoch, offset = divmod(step, self.steps_per_epoch(k))
      out[label] = {"epoch": epoch, "batch_in_epoch": offset}
    return out

  def batch(self, step: int) -> dict[str, np.ndarray]:
    per_class = []
    for k, images in enumerate(self.class_images):
      chosen = images[self._permutations.indices(k, step, self.local_batch)]
      flip = _flip_mask(self.random_flip, self.seed, k, step, self.process_index,
                        self.local_batch)
      per_class.append(to_model_range(chosen, flip))
    return {"real": np.stack(per_class)}


class LabelledSampler:
  """`batch(step)` -> {'image': float32 (local_batch, H, W, C), 'label': int32 (local_batch,)}.

  Uniform over the union of the requested classes (their natural proportions); the label is the
  class's index in `labels`.
  """

  name = "labelled"

  def __init__(self, labels: Sequence[str], class_images: Sequence[np.ndarray], *,
               local_batch: int, seed: int, process_index: int = 0, random_flip: bool = True):
    self.labels = tuple(labels)
    shapes = {images.shape[1:] for images in class_images}
    if len(shapes) != 1:
      raise ConfigError(f"classes have different image shapes: {sorted(shapes)}")
    for label, images in zip(self.labels, class_images):
      if not len(images):
        raise ConfigError(f"class {label!r} has no images on this process")
    self.images = np.concatenate(list(class_images))
    self.class_index = np.concatenate(
        [np.full(len(x), k, np.int32) for k, x in enumerate(class_images)])
    _check_enough(("+".join(self.labels),), [self.images], local_batch)
    self.local_batch = local_batch
    self.seed = seed
    self.process_index = process_index
    self.random_flip = random_flip
    self._permutations = _EpochPermutations([len(self.images)], seed, process_index)

  @property
  def fields(self) -> dict[str, FieldSpec]:
    return {"image": FieldSpec((self.local_batch,) + self.images.shape[1:], "float32"),
            "label": FieldSpec((self.local_batch,), "int32")}

  def position(self, step: int) -> dict[str, int]:
    epoch, offset = divmod(step, len(self.images) // self.local_batch)
    return {"epoch": epoch, "batch_in_epoch": offset}

  def batch(self, step: int) -> dict[str, np.ndarray]:
    indices = self._permutations.indices(0, step, self.local_batch)
    flip = _flip_mask(self.random_flip, self.seed, 0, step, self.process_index,
                      self.local_batch)
    return {"image": to_model_range(self.images[indices], flip),
            "label": self.class_index[indices]}
