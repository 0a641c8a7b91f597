"""The FID protocol: how NHWC images in [-1, 1] become the Inception network's 299x299 input.

Inputs are NHWC float images in [-1, 1] of any size. How they become the network's
299x299 input is the *FID protocol*. Published scores split into two camps here and
the two give different features (hence scores), so every score must say which it used:

* `pytorch_fid` (pytorch-fid): bilinear resize matching `F.interpolate(mode="bilinear",
  align_corners=False)` (half-pixel centres, no antialiasing). pytorch-fid resizes
  [0, 1] images and then maps them to [-1, 1]; bilinear weights sum to one, so
  resizing the [-1, 1] images directly gives the same result.
* `tf_original` (the original TF FID code, TTUR's `fid.py`, and torch-fidelity): the
  TF graph takes pixels in [0, 255], resizes them with TF1's `resize_bilinear`
  (align_corners=False, no half-pixel centres: source = dst * in/out) and scales
  them as (x - 128) / 128, so 255 maps to 0.9921875 rather than 1.

Resizes run at `Precision.HIGHEST` (see `evaluation.inception`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax.errors import ConfigError

INPUT_SIZE = 299  # every published score resizes to it

# The FID protocols (how [-1, 1] images become the network's input); see the module docstring.
PYTORCH_FID = "pytorch_fid"
TF_ORIGINAL = "tf_original"
FID_PROTOCOLS = (PYTORCH_FID, TF_ORIGINAL)
DEFAULT_FID_PROTOCOL = PYTORCH_FID

_PRECISION = jax.lax.Precision.HIGHEST


def _bilinear_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) interpolation matrix of PyTorch's align_corners=False bilinear.

    Mirrors ATen's `upsample_bilinear2d`: source coordinate
    `max((dst + 0.5) * in/out - 0.5, 0)`, neighbours `floor(src)` and the next
    pixel clamped to the last one. Only the two neighbours contribute whatever the
    scale, i.e. no antialiasing (unlike `jax.image.resize`'s default). The
    arithmetic follows ATen's float32 path (float32 scale, the coordinate rounded
    once to float32 as a fused multiply-add does), which reproduces PyTorch's
    weights bit for bit.
    """
    f32 = np.float32
    scale = np.float64(f32(in_size) / f32(out_size))
    src = (scale * (np.arange(out_size, dtype=np.float64) + 0.5) - 0.5).astype(f32)
    src = np.maximum(src, f32(0.0))
    lower = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    upper_weight = np.clip(src - lower.astype(f32), f32(0.0), f32(1.0))
    weights = np.zeros((out_size, in_size), dtype=f32)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, lower), f32(1.0) - upper_weight)
    np.add.at(weights, (rows, upper), upper_weight)
    return weights


def resize_bilinear(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Resizes NHWC `images` to `size` = (height, width) like PyTorch's bilinear resize.

    Equivalent to `F.interpolate(x, size, mode="bilinear", align_corners=False)`
    on the NCHW transpose. Done as two small matmuls with precomputed weights so
    the semantics are explicit rather than inherited from a library default.
    """
    out_h, out_w = size
    _, in_h, in_w, _ = images.shape
    x = images
    if in_h != out_h:
        x = jnp.einsum("oh,nhwc->nowc", _bilinear_weights(in_h, out_h), x, precision=_PRECISION)
    if in_w != out_w:
        x = jnp.einsum("ow,nhwc->nhoc", _bilinear_weights(in_w, out_w), x, precision=_PRECISION)
    return x


def _tf1_sample_points(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper source pixel and the fraction between them, per output pixel (TF1).

    TF1's `resize_bilinear` (align_corners=False, half_pixel_centers=False) maps
    output pixel `dst` to source coordinate `dst * scale` with the float32 scale
    `in/out`, takes `floor` of it and the next pixel, clamped to the last one;
    the fraction is `coordinate - floor(coordinate)`. Computed on the host in
    float32 from the static shapes: computed with jnp inside a jitted program,
    the resized values were up to 3.6e-4 off TF's (0..255 images, 32 -> 299),
    most likely because XLA fused `dst * scale - floor(...)` into one
    multiply-add and skipped rounding the coordinate.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    source = np.arange(out_size, dtype=np.float32) * scale
    lower_coordinate = np.floor(source)
    lower = lower_coordinate.astype(np.int32)
    upper = np.minimum(lower + 1, in_size - 1).astype(np.int32)
    return lower, upper, source - lower_coordinate


def _tf1_lerp_along(x: jax.Array, axis: int, out_size: int) -> jax.Array:
    """Resizes `x` along `axis` as TF1 does: low + (high - low) * fraction."""
    lower, upper, fraction = _tf1_sample_points(x.shape[axis], out_size)
    low = jnp.take(x, lower, axis=axis, mode="clip")  # indices are in range by construction
    high = jnp.take(x, upper, axis=axis, mode="clip")
    shape = [1] * x.ndim
    shape[axis] = out_size
    return low + (high - low) * fraction.reshape(shape)


def resize_bilinear_tf1(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Resizes NHWC `images` to `size` = (height, width) like TF1's `resize_bilinear`.

    Equivalent to `tf.raw_ops.ResizeBilinear(images, size, align_corners=False,
    half_pixel_centers=False)`, the resize inside the original FID graph. Pixels
    are not centred: each output pixel samples up to half an input pixel further
    down and right than PyTorch's resize does, so the picture shifts towards the
    top left and the last rows/columns repeat the edge. Interpolates along the
    width first, then the height, with TF's `a + (b - a) * t` arithmetic; jitted
    on CPU it agrees with TF to a few float32 ulps (XLA may fuse a multiply-add).
    Jittable: the sample points depend only on the static shapes.
    """
    out_h, out_w = size
    x = jnp.asarray(images, jnp.float32)
    if x.shape[2] != out_w:
        x = _tf1_lerp_along(x, 2, out_w)
    if x.shape[1] != out_h:
        x = _tf1_lerp_along(x, 1, out_h)
    return x


def check_fid_protocol(protocol: str) -> str:
    """Returns `protocol` if it is a known FID protocol, else raises a one-line ConfigError."""
    if protocol not in FID_PROTOCOLS:
        raise ConfigError(
            f"unknown FID protocol {protocol!r}; --fid_protocol takes {PYTORCH_FID} "
            f"(pytorch-fid's resize and scaling, the default) or {TF_ORIGINAL} (the original "
            "TF FID code's: TF1 resize_bilinear of [0, 255] pixels, then (x - 128) / 128)"
        )
    return protocol


def network_input(images: jax.Array, protocol: str, input_size: int | None = INPUT_SIZE) -> jax.Array:
    """What the network sees for NHWC `images` in [-1, 1] under FID `protocol`.

    `input_size=None` skips the resize (the scaling still follows the protocol).
    Under `tf_original` the images are first mapped back to [0, 255] pixels,
    which is exact to float32 rounding for images quantised to uint8 levels.
    """
    check_fid_protocol(protocol)
    x = jnp.asarray(images, jnp.float32)
    size = None if input_size is None else (input_size, input_size)
    if protocol == PYTORCH_FID:
        return x if size is None else resize_bilinear(x, size)
    pixels = (x + 1.0) * 127.5
    if size is not None:
        pixels = resize_bilinear_tf1(pixels, size)
    return (pixels - 128.0) / 128.0
