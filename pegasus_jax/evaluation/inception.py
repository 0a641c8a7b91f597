"""The FID Inception-v3 network in Flax, and a loader for its published weights.

FID, KID and the Inception Score are only comparable across papers when they are
computed with one particular network: the TensorFlow Inception graph
"2015-12-05" used by the original FID (TTUR) and Inception-Score code. pytorch-fid
ships those weights as a PyTorch state_dict (`pt_inception-2015-12-05-6726825d.pth`,
release v0.1.0) together with `fid_inception_v3()`, torchvision's Inception-v3
patched in four places to reproduce the TF graph. This module rebuilds exactly that
network:

* blocks `Mixed_5b..d` (FIDInceptionA), `Mixed_6b..e` (FIDInceptionC) and `Mixed_7b`
  (FIDInceptionE_1) average-pool with `count_include_pad=False` (TF's average pool
  ignores the zero padding);
* block `Mixed_7c` (FIDInceptionE_2) max-pools in its pool branch;
* BatchNorm uses eps=0.001 and running statistics (inference only);
* the classifier `fc` is 2048 -> 1008 (TF's 1008-way softmax), no auxiliary head.

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

Outputs are the 2048-d "pool3" features (global average pool after `Mixed_7c`, the
features FID and KID use) and the 1008-way logits (used by the Inception Score).
All convolutions and matmuls run at `Precision.HIGHEST`, so GPUs/TPUs do not silently
drop to TF32/bfloat16 and shift the scores.

Weights are never downloaded here: see `load_inception_params`.
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from pegasus_jax.errors import ConfigError

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    + FID_WEIGHTS_FILENAME
)
INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_LOGITS = 1008
BATCH_NORM_EPSILON = 1e-3

# The FID protocols (how [-1, 1] images become the network's input); see the module docstring.
PYTORCH_FID = "pytorch_fid"
TF_ORIGINAL = "tf_original"
FID_PROTOCOLS = (PYTORCH_FID, TF_ORIGINAL)
DEFAULT_FID_PROTOCOL = PYTORCH_FID

_PRECISION = jax.lax.Precision.HIGHEST

Variables = dict[str, Any]
StateDict = dict[str, np.ndarray]


# ----------------------------------------------------------------------------
# Resizing


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


# ----------------------------------------------------------------------------
# Network (submodule names are pytorch-fid's so the weights map one to one)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    """TF-style 3x3/1 'SAME' average pool that ignores padding (FID patch)."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_same(x: jax.Array) -> jax.Array:
    """3x3/1 max pool with 1 pixel of -inf padding (FIDInceptionE_2's pool branch)."""
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
    """3x3/2 'VALID' max pool used between stages."""
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3, running stats) -> ReLU, as torchvision's."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)  # symmetric (height, width) padding, as in PyTorch

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad_h, pad_w = self.padding
        x = nn.Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=((pad_h, pad_h), (pad_w, pad_w)),
            use_bias=False,
            precision=_PRECISION,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=BATCH_NORM_EPSILON, name="bn")(x)
        return nn.relu(x)


class InceptionA(nn.Module):
    """pytorch-fid's FIDInceptionA (35x35 grid)."""

    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch1x1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)

        branch5x5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        branch5x5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(branch5x5)

        branch3x3dbl = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(branch3x3dbl)

        branch_pool = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(nn.Module):
    """torchvision's InceptionB (grid reduction 35 -> 17); unchanged in the FID model."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch3x3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)

        branch3x3dbl = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(branch3x3dbl)

        branch_pool = _max_pool_3x3_stride2(x)
        return jnp.concatenate([branch3x3, branch3x3dbl, branch_pool], axis=-1)


class InceptionC(nn.Module):
    """pytorch-fid's FIDInceptionC (17x17 grid, factorised 7x7 convolutions)."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        branch1x1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)

        branch7x7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        branch7x7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(branch7x7)
        branch7x7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(branch7x7)

        branch7x7dbl = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        branch7x7dbl = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(branch7x7dbl)

        branch_pool = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


class InceptionD(nn.Module):
    """torchvision's InceptionD (grid reduction 17 -> 8); unchanged in the FID model."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch3x3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        branch3x3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(branch3x3)

        branch7x7x3 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        branch7x7x3 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(branch7x7x3)
        branch7x7x3 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(branch7x7x3)
        branch7x7x3 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(branch7x7x3)

        branch_pool = _max_pool_3x3_stride2(x)
        return jnp.concatenate([branch3x3, branch7x7x3, branch_pool], axis=-1)


class InceptionE(nn.Module):
    """pytorch-fid's FIDInceptionE_1 (`pool="avg"`) and FIDInceptionE_2 (`pool="max"`).

    The TF graph max-pools in the last block (`Mixed_7c`), most likely a bug in
    that graph, but reproducing it is what makes the scores comparable.
    """

    pool: str  # "avg" or "max"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch1x1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)

        branch3x3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        branch3x3 = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(branch3x3),
                BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(branch3x3),
            ],
            axis=-1,
        )

        branch3x3dbl = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(branch3x3dbl),
                BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(branch3x3dbl),
            ],
            axis=-1,
        )

        if self.pool == "avg":
            pooled = _avg_pool_3x3(x)
        elif self.pool == "max":
            pooled = _max_pool_3x3_same(x)
        else:
            raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
        branch_pool = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=-1)


class _Logits(nn.Module):
    """The 2048 -> 1008 classifier, with the bias optional in the output.

    The parameters always include the bias (it is in the weights file), but the
    original TF Inception-Score code multiplies pool3 by the weight matrix only
    (`tf.matmul(pool3, w)` in openai/improved-gan; torch-fidelity's default
    "logits_unbiased"), so reproducing reference IS values needs it left out.
    """

    features: int
    add_bias: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        logits = jnp.dot(x, kernel, precision=_PRECISION)
        return logits + bias if self.add_bias else logits


class FIDInceptionV3(nn.Module):
    """Inception-v3 as in pytorch-fid's `fid_inception_v3()`, returning (pool3, logits).

    Attributes:
      input_size: images are bilinearly resized to `input_size` x `input_size`
        first (299 for every published score); None feeds them unresized (the
        network accepts any size >= 75, which keeps tests cheap).
      logits_bias: add `fc.bias` to the logits. False (default) follows the
        original TF Inception-Score code; True gives the plain `fc` output.
      protocol: the FID protocol, `pytorch_fid` or `tf_original`: how images
        are resized and scaled (see `network_input`).

    Call with NHWC float images in [-1, 1]; returns float32 arrays of shape
    (N, 2048) and (N, 1008). Inference only: BatchNorm uses running statistics
    and the (eval-mode) dropout before `fc` is the identity.
    """

    input_size: int | None = INPUT_SIZE
    logits_bias: bool = False
    protocol: str = DEFAULT_FID_PROTOCOL

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = network_input(images, self.protocol, self.input_size)

        x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_3x3_stride2(x)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool_3x3_stride2(x)

        x = InceptionA(pool_features=32, name="Mixed_5b")(x)
        x = InceptionA(pool_features=64, name="Mixed_5c")(x)
        x = InceptionA(pool_features=64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        x = InceptionC(channels_7x7=128, name="Mixed_6b")(x)
        x = InceptionC(channels_7x7=160, name="Mixed_6c")(x)
        x = InceptionC(channels_7x7=160, name="Mixed_6d")(x)
        x = InceptionC(channels_7x7=192, name="Mixed_6e")(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(pool="avg", name="Mixed_7b")(x)
        x = InceptionE(pool="max", name="Mixed_7c")(x)

        pool3 = jnp.mean(x, axis=(1, 2))
        logits = _Logits(NUM_LOGITS, add_bias=self.logits_bias, name="fc")(pool3)
        return pool3, logits


# ----------------------------------------------------------------------------
# pytorch-fid state_dict <-> Flax variables

# Flax (collection, last two path entries) -> (pytorch suffix, Flax->torch axes).
_LEAF_TO_TORCH: dict[tuple[str, str, str], tuple[str, tuple[int, ...] | None]] = {
    ("params", "conv", "kernel"): ("conv.weight", (3, 2, 0, 1)),  # HWIO -> OIHW
    ("params", "bn", "scale"): ("bn.weight", None),
    ("params", "bn", "bias"): ("bn.bias", None),
    ("batch_stats", "bn", "mean"): ("bn.running_mean", None),
    ("batch_stats", "bn", "var"): ("bn.running_var", None),
    ("params", "fc", "kernel"): ("fc.weight", (1, 0)),  # (in, out) -> (out, in)
    ("params", "fc", "bias"): ("fc.bias", None),
}

# Bookkeeping buffers of PyTorch BatchNorm that inference does not use.
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def _torch_name(collection: str, path: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """pytorch-fid name of a Flax leaf, and the permutation taking Flax to torch layout."""
    key = (collection, path[-2], path[-1])
    if key not in _LEAF_TO_TORCH:
        raise KeyError(f"no pytorch-fid name for Flax variable {collection}/{'/'.join(path)}")
    suffix, axes = _LEAF_TO_TORCH[key]
    return ".".join(path[:-2] + (suffix,)), axes


@functools.lru_cache(maxsize=1)
def _variable_template() -> dict[tuple[str, ...], jax.ShapeDtypeStruct]:
    """Flattened Flax variables of the network at 299x299, built abstractly (no FLOPs)."""
    abstract = jax.eval_shape(
        FIDInceptionV3().init,
        jax.random.key(0),
        jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
    )
    return traverse_util.flatten_dict(abstract)


def _permuted_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(shape) if axes is None else tuple(shape[a] for a in axes)


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """pytorch-fid state_dict names and (torch-layout) shapes this network needs.

    Derived from the Flax module itself, so it is the single source of truth for
    the loader's strict check (`num_batches_tracked` buffers are not listed).
    """
    shapes = {}
    for (collection, *path), leaf in _variable_template().items():
        name, axes = _torch_name(collection, tuple(path))
        shapes[name] = _permuted_shape(leaf.shape, axes)
    return shapes


def state_dict_to_variables(state_dict: Mapping[str, Any]) -> Variables:
    """Maps a pytorch-fid state_dict (name -> array) to Flax `{'params', 'batch_stats'}`.

    Strict: missing names, unexpected names and shape mismatches all raise one
    ValueError listing them, so a wrong or truncated weights file cannot yield
    silently wrong scores. PyTorch's `*.num_batches_tracked` buffers are ignored.
    """
    given = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    expected = expected_state_dict_shapes()
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = sorted(
        f"{name}: expected {expected[name]}, got {tuple(np.shape(given[name]))}"
        for name in set(expected) & set(given)
        if tuple(np.shape(given[name])) != expected[name]
    )
    if missing or unexpected or mismatched:
        problems = []
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        ):
            if items:
                problems.append(f"{len(items)} {title}: " + ", ".join(items))
        raise ConfigError(
            "Inception weights do not match pytorch-fid's fid_inception_v3 state_dict; "
            + "; ".join(problems)
        )

    flat = {}
    for (collection, *path), leaf in _variable_template().items():
        name, axes = _torch_name(collection, tuple(path))
        value = np.asarray(given[name], dtype=np.float32)
        if axes is not None:
            value = value.transpose(np.argsort(axes))  # torch layout -> Flax layout
        assert value.shape == leaf.shape, (name, value.shape, leaf.shape)
        flat[(collection, *path)] = jnp.asarray(value)
    return traverse_util.unflatten_dict(flat)


def variables_to_state_dict(variables: Variables) -> StateDict:
    """Inverse of `state_dict_to_variables`: Flax variables -> pytorch-fid names/layouts."""
    state_dict = {}
    for (collection, *path), value in traverse_util.flatten_dict(dict(variables)).items():
        name, axes = _torch_name(collection, tuple(path))
        array = np.asarray(value, dtype=np.float32)
        state_dict[name] = array if axes is None else array.transpose(axes)
    return state_dict


# ----------------------------------------------------------------------------
# Loading weights from disk


def _convert_command(pth: str | os.PathLike[str]) -> str:
    out = pathlib.Path(pth).with_suffix(".npz")
    return f"python -m pegasus_jax.tools.convert_inception --pth={pth} --out={out}"


def _missing_weights_message(path: pathlib.Path) -> str:
    return (
        f"FID Inception weights not found at {str(path)!r}. This file holds the "
        f"TensorFlow 'inception-2015-12-05' FID network as ported by pytorch-fid "
        f"(release v0.1.0, file {FID_WEIGHTS_FILENAME}). Nothing is downloaded "
        f"automatically: fetch it on a machine with internet access from\n  "
        f"{FID_WEIGHTS_URL}\nthen either pass the .pth itself (needs torch "
        f"installed) or convert it once, on a machine with torch, to a torch-free "
        f".npz:\n  {_convert_command(FID_WEIGHTS_FILENAME)}\nand pass the .npz path."
    )


def read_torch_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads pytorch-fid's `.pth` into name -> numpy array; needs torch (imported lazily)."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as err:
        raise ImportError(
            f"Reading {str(path)!r} needs PyTorch, which is not installed (pegasus_jax "
            "does not depend on it). On a machine with torch, convert the weights once "
            f"with\n  {_convert_command(path)}\nand load the resulting .npz instead."
        ) from err
    state_dict = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    return {name: tensor.detach().cpu().numpy() for name, tensor in state_dict.items()}


def load_npz_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads an `.npz` whose keys are pytorch-fid state_dict names."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def load_inception_params(path: str | os.PathLike[str]) -> Variables:
    """Loads the FID Inception weights as Flax variables for `FIDInceptionV3`.

    `path` is either pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (read
    only if torch is importable) or the `.npz` written by
    `python -m pegasus_jax.tools.convert_inception`. Never downloads anything; a
    missing file raises FileNotFoundError explaining where to get it.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(_missing_weights_message(path))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        state_dict = load_npz_state_dict(path)
    elif suffix in (".pth", ".pt"):
        state_dict = read_torch_state_dict(path)
    else:
        raise ConfigError(f"expected a .pth or .npz Inception weights file, got {str(path)!r}")
    return state_dict_to_variables(state_dict)


# ----------------------------------------------------------------------------
# Batched feature extraction


@functools.lru_cache(maxsize=None)
def _jitted_apply(logits_bias: bool, input_size: int | None, protocol: str):
    model = FIDInceptionV3(input_size=input_size, logits_bias=logits_bias, protocol=protocol)
    return jax.jit(model.apply)


def inception_features_and_logits(
    variables: Variables,
    images: np.ndarray | jax.Array,
    batch_size: int = 100,
    *,
    logits_bias: bool = False,
    input_size: int | None = INPUT_SIZE,
    protocol: str = DEFAULT_FID_PROTOCOL,
) -> tuple[np.ndarray, np.ndarray]:
    """Pool3 features (N, 2048) and logits (N, 1008) of NHWC images in [-1, 1].

    Runs the jitted network `batch_size` images at a time; the last batch is
    zero-padded to the same shape so it compiles only once. To match published
    scores, pass images quantised like the reference images (e.g. generated
    images rounded to uint8 and mapped back with `x / 127.5 - 1`). `logits_bias`
    and `input_size` are as in `FIDInceptionV3`; keep `input_size=299` for any
    reported number. `protocol` (`pytorch_fid` or `tf_original`) picks the
    preprocessing; features from different protocols must never be compared.
    """
    check_fid_protocol(protocol)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected NHWC RGB images, got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("no images given")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    low, high = float(images.min()), float(images.max())
    if low < -1.0 - 1e-3 or high > 1.0 + 1e-3:
        raise ValueError(
            f"images must be floats in [-1, 1], got values in [{low}, {high}] "
            "(uint8 images: use x / 127.5 - 1)"
        )

    apply = _jitted_apply(logits_bias, input_size, protocol)
    num = images.shape[0]
    batch_size = min(batch_size, num)
    features, logits = [], []
    for start in range(0, num, batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        valid = batch.shape[0]
        if valid < batch_size:
            padding = np.zeros((batch_size - valid,) + batch.shape[1:], np.float32)
            batch = np.concatenate([batch, padding])
        batch_features, batch_logits = apply(variables, batch)
        features.append(batch_features[:valid])
        logits.append(batch_logits[:valid])
    return np.concatenate(jax.device_get(features)), np.concatenate(jax.device_get(logits))
