"""DiffAugment (Zhao et al. 2020): differentiable augmentation of both real and fake images.

With little data the discriminator memorises the real set. Augmenting only the reals would teach
the generator to produce augmented images, so DiffAugment applies the same kind of random
transform to reals and fakes, in both the discriminator and the generator step, and keeps every
op differentiable so the generator's gradient flows back through it.

Images are NHWC in [-1, 1] with any leading batch shape ((B, H, W, C) or stacked (K, B, H, W, C));
every random choice is per image. The scales follow the official implementation for [-1, 1]
images: brightness + U[-0.5, 0.5], saturation x U[0, 2], contrast x U[0.5, 1.5], translation by up
to 1/8 of the size with zero (mid-grey) fill, cutout of a half-size square.

`blur` is this project's addition (not in the paper), meant for the guide term's view of the
fakes (`config.guide.augment`): a Gaussian blur with a random std per image. Translation, colour
and cutout all leave a pixel-periodic pattern intact, so a generator can pay a frozen classifier
in hatching that no augmentation above removes; a blur of std 0.5-1 pixel damps a pattern of
period 2 by 3x-1,900x. It also blurs what the guide reads: the committed guide's accuracy on
real held-out images falls from 80% to 76% / 56% / 41% at std 0.5 / 0.75 / 1 (EVALUATION.md,
"Issue 18's candidates").
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout", "blur")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
BLUR_SIGMA = (0.5, 1.0)  # the blur's default std range in pixels, uniform per image
BLUR_RADIUS = 2  # taps each side: 5-tap separable kernels
MAX_BLUR_SIGMA = BLUR_RADIUS / 2  # wider Gaussians would be cut off inside 2 std by the taps


def _per_image(values: jax.Array, images: jax.Array) -> jax.Array:
  """Reshape one value per image, shape (N,), to broadcast over (N, H, W, C)."""
  return values.astype(images.dtype).reshape((-1,) + (1,) * (images.ndim - 1))


def brightness(images: jax.Array, delta: jax.Array) -> jax.Array:
  """Add `delta[n]` to every pixel of image n: images (N, H, W, C), delta (N,)."""
  return images + _per_image(delta, images)


def saturation(images: jax.Array, factor: jax.Array) -> jax.Array:
  """Scale each pixel's deviation from its own channel mean (its grey level) by `factor[n]`."""
  mean = jnp.mean(images, axis=-1, keepdims=True)
  return (images - mean) * _per_image(factor, images) + mean


def contrast(images: jax.Array, factor: jax.Array) -> jax.Array:
  """Scale each image's deviation from its mean over all pixels and channels by `factor[n]`."""
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_image(factor, images) + mean


def translate(images: jax.Array, shifts: jax.Array) -> jax.Array:
  """Shift image n by shifts[n] = (dy, dx) pixels (down, right), filling uncovered pixels with 0.

  out[n, i, j] = images[n, i - dy, j - dx] where that lies inside the image, else 0: np.roll with
  zero fill instead of wrap-around. A gather, so the gradient with respect to the images flows.
  """
  _, height, width, _ = images.shape
  rows = jnp.arange(height)[None, :] - shifts[:, 0:1]  # (N, H) source row of each output row
  cols = jnp.arange(width)[None, :] - shifts[:, 1:2]  # (N, W)
  row_ok = (rows >= 0) & (rows < height)
  col_ok = (cols >= 0) & (cols < width)
  out = jnp.take_along_axis(images, jnp.clip(rows, 0, height - 1)[:, :, None, None], axis=1)
  out = jnp.take_along_axis(out, jnp.clip(cols, 0, width - 1)[:, None, :, None], axis=2)
  inside = row_ok[:, :, None, None] & col_ok[:, None, :, None]
  return jnp.where(inside, out, jnp.zeros((), images.dtype))


def cutout_size(height: int, width: int) -> tuple[int, int]:
  """The cutout square's (height, width): half the image size, rounded."""
  return int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)


def cutout(images: jax.Array, offsets: jax.Array) -> jax.Array:
  """Zero a cutout_size() rectangle of image n whose top-left corner is offsets[n] = (y, x).

  Unlike the official code, whose square may hang over the border, the random offsets drawn by
  `diff_augment` keep it inside, so every image loses exactly the same number of pixels.
  """
  _, height, width, _ = images.shape
  size_y, size_x = cutout_size(height, width)
  rows = jnp.arange(height)[None, :] - offsets[:, 0:1]  # (N, H) row index inside the square
  cols = jnp.arange(width)[None, :] - offsets[:, 1:2]
  in_rows = (rows >= 0) & (rows < size_y)
  in_cols = (cols >= 0) & (cols < size_x)
  cut = in_rows[:, :, None, None] & in_cols[:, None, :, None]
  return jnp.where(cut, jnp.zeros((), images.dtype), images)


def blur(images: jax.Array, sigma: jax.Array) -> jax.Array:
  """Blur image n with a Gaussian of std `sigma[n]` pixels: separable, `2 * BLUR_RADIUS + 1`
  taps normalised to sum 1, the border pixels repeated outwards. images (N, H, W, C), sigma (N,)."""
  _, height, width, _ = images.shape
  offsets = jnp.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=jnp.float32)
  taps = jnp.exp(-0.5 * jnp.square(offsets[None, :] / sigma[:, None].astype(jnp.float32)))
  taps = (taps / jnp.sum(taps, axis=1, keepdims=True)).astype(images.dtype)  # (N, taps)
  pad = ((0, 0), (BLUR_RADIUS, BLUR_RADIUS))
  rows = jnp.pad(images, pad + ((0, 0), (0, 0)), mode="edge")
  images = sum(_per_image(taps[:, d], images) * rows[:, d:d + height]
               for d in range(taps.shape[1]))
  cols = jnp.pad(images, ((0, 0),) + pad + ((0, 0),), mode="edge")
  return sum(_per_image(taps[:, d], images) * cols[:, :, d:d + width]
             for d in range(taps.shape[1]))


def _random_color(key: jax.Array, images: jax.Array) -> jax.Array:
  n = images.shape[0]
  k_bright, k_sat, k_con = jax.random.split(key, 3)
  images = brightness(images, jax.random.uniform(k_bright, (n,), minval=-0.5, maxval=0.5))
  images = saturation(images, jax.random.uniform(k_sat, (n,), minval=0.0, maxval=2.0))
  return contrast(images, jax.random.uniform(k_con, (n,), minval=0.5, maxval=1.5))


def _random_translation(key: jax.Array, images: jax.Array) -> jax.Array:
  n, height, width, _ = images.shape
  max_shift = jnp.array([int(height * TRANSLATION_RATIO + 0.5),
                         int(width * TRANSLATION_RATIO + 0.5)])
  shifts = jax.random.randint(key, (n, 2), -max_shift, max_shift + 1)
  return translate(images, shifts)


def _random_cutout(key: jax.Array, images: jax.Array) -> jax.Array:
  n, height, width, _ = images.shape
  size = jnp.array(cutout_size(height, width))
  offsets = jax.random.randint(key, (n, 2), 0, jnp.array([height, width]) - size + 1)
  return cutout(images, offsets)


def _random_blur(key: jax.Array, images: jax.Array,
                 sigma_range: tuple[float, float]) -> jax.Array:
  low, high = sigma_range
  return blur(images, jax.random.uniform(key, (images.shape[0],), minval=low, maxval=high))


def validate_blur_sigma(value: object) -> str | None:
  """A complaint about a blur std range (low, high), or None when it is valid."""
  ok = (isinstance(value, (tuple, list)) and len(value) == 2 and all(
      isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
  if not ok or not 0 < value[0] <= value[1] <= MAX_BLUR_SIGMA:  # type: ignore[index]
    return (f"must be a pair (low, high) of blur stds in pixels with 0 < low <= high <= "
            f"{MAX_BLUR_SIGMA} (the {2 * BLUR_RADIUS + 1}-tap kernel cuts wider ones off), "
            f"got {value!r}")
  return None


_OPS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "color": _random_color,
    "translation": _random_translation,
    "cutout": _random_cutout,
}


def _names(policy: str) -> list[str]:
  return [name.strip() for name in policy.split(",")] if policy.strip() else []


def validate_policy(policy: str) -> str | None:
  """A complaint about `policy` (unknown, empty or repeated names), or None when it is valid."""
  if not isinstance(policy, str):
    return f"DiffAugment policy must be a string, got {type(policy).__name__}"
  names = _names(policy)
  unknown = [name for name in names if name not in POLICIES]
  if unknown:
    return (f"unknown DiffAugment op(s) {unknown} in policy {policy!r}; "
            f"use a comma-separated subset of {POLICIES}, or '' for none")
  if len(set(names)) != len(names):
    return f"DiffAugment policy {policy!r} names an op twice"
  return None


def diff_augment(key: jax.Array, images: jax.Array, policy: str,
                 blur_sigma: tuple[float, float] = BLUR_SIGMA) -> jax.Array:
  """Apply the ops of `policy` (e.g. 'color,translation,cutout') in the order given.

  images: (..., H, W, C) in [-1, 1]; '' returns `images` itself. Each op draws from its own
  subkey of `key`, per image, so the same key on two batches of the same shape applies the same
  transforms to both. Differentiable with respect to `images` and jittable (policy is static).
  `blur_sigma`: the (low, high) range of the `blur` op's per-image std, Python numbers (static
  under jit, like `policy`).
  """
  complaint = validate_policy(policy)
  if complaint:
    raise ValueError(complaint)
  complaint = validate_blur_sigma(blur_sigma)
  if complaint:
    raise ValueError(f"blur_sigma {complaint}")
  names = _names(policy)
  if not names:
    return images
  if images.ndim < 4:
    raise ValueError(f"images must be (..., H, W, C) with a batch axis, got shape {images.shape}")
  flat = images.reshape((-1,) + images.shape[-3:])
  ops = {**_OPS, "blur": functools.partial(_random_blur, sigma_range=tuple(blur_sigma))}
  for name, op_key in zip(names, jax.random.split(key, len(names))):
    flat = ops[name](op_key, flat)
  return flat.reshape(images.shape)
