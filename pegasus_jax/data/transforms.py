"""Transforms of decoded images that make a data set of their own (`config.data.transform`).

'colour' turns grey digits into coloured ones: every image gets a paper (background) colour and
an ink (digit) colour, and each pixel is ink and paper mixed by its grey level. The colours are
a pure function of the image's pixels and a seed (a counter-free hash, no generator state), so
the same digit gets the same colours whichever split, class filter, shard or order it is read
in: the coloured MNIST a classifier trains on, the coloured domain of a CycleGAN and the
evaluation's coloured test digits are one data set. Each ink channel differs from the paper's by
64 to 192 levels, so the digit always stands out, darker or lighter than its paper.
"""

from __future__ import annotations

import numpy as np

from pegasus_jax.data.spec import TRANSFORMS
from pegasus_jax.errors import ConfigError

COLOUR = "colour"
COLOUR_SEED = 0  # the seed of the colouring that `config.data.transform='colour'` names
_MIN_CONTRAST = 64  # ink channel = paper channel + 64..192 (mod 256): never closer than 64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(values: np.ndarray) -> np.ndarray:
  """SplitMix64's finaliser on uint64 arrays: a well-mixed hash of each value (wraps mod 2**64)."""
  z = np.asarray(values, np.uint64) + _GOLDEN
  z = (z ^ (z >> np.uint64(30))) * _MIX_1
  z = (z ^ (z >> np.uint64(27))) * _MIX_2
  return z ^ (z >> np.uint64(31))


def _grey(images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W) grey levels of uint8 (N, H, W, C) images (the channel mean)."""
  if images.shape[-1] == 1:
    return images[..., 0]
  return np.round(images.astype(np.float32).mean(-1)).astype(np.uint8)


def image_keys(grey: np.ndarray, seed: int) -> np.ndarray:
  """One uint64 per image, a hash of its grey pixels and `seed`."""
  flat = grey.reshape(len(grey), -1).astype(np.uint64)
  weights = _splitmix64(np.arange(flat.shape[1], dtype=np.uint64))
  with np.errstate(over="ignore"):
    content = (flat * weights).sum(axis=1, dtype=np.uint64)
  return _splitmix64(content ^ _splitmix64(np.full(len(grey), seed, np.uint64)))


def digit_colours(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """uint8 (N, 3) paper and ink colours of the images with these keys."""
  channel = np.arange(3, dtype=np.uint64)
  paper = (_splitmix64(keys[:, None] * np.uint64(8) + channel) % np.uint64(256)).astype(np.int64)
  offset = _splitmix64(keys[:, None] * np.uint64(8) + channel + np.uint64(3))
  offset = (offset % np.uint64(256 - 2 * _MIN_CONTRAST + 1)).astype(np.int64) + _MIN_CONTRAST
  ink = (paper + offset) % 256
  return paper.astype(np.uint8), ink.astype(np.uint8)


def colour_digits(images: np.ndarray, seed: int = COLOUR_SEED) -> np.ndarray:
  """uint8 (N, H, W, C) grey digits -> uint8 (N, H, W, 3): ink and paper in seeded colours."""
  grey = _grey(images)
  paper, ink = digit_colours(image_keys(grey, seed))
  weight = grey.astype(np.float32)[..., None] / 255.0
  mixed = (weight * ink[:, None, None, :].astype(np.float32)
           + (1.0 - weight) * paper[:, None, None, :].astype(np.float32))
  return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def apply(transform: str, images: np.ndarray, channels: int) -> np.ndarray:
  """`images` (uint8 (N, H, W, channels)) after the named transform; ConfigError naming the field."""
  if transform not in TRANSFORMS:
    raise ConfigError(f"config.data.transform={transform!r} must be one of {list(TRANSFORMS)}")
  if transform == COLOUR:
    if channels != 3:
      raise ConfigError(f"config.data.transform={COLOUR!r} makes RGB images: set "
                        f"config.data.channels=3 (now {channels})")
    return colour_digits(images)
  return images
