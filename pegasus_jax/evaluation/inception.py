"""The FID Inception-v3 network in Flax, and its batched features and logits.

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

Inputs are NHWC float images in [-1, 1] of any size; how they become the network's 299x299
input is the FID protocol (`evaluation.fid_preprocessing`), an attribute of the network.
Outputs are the 2048-d "pool3" features (global average pool after `Mixed_7c`, the
features FID and KID use) and the 1008-way logits (used by the Inception Score).
All convolutions and matmuls run at `Precision.HIGHEST`, so GPUs/TPUs do not silently
drop to TF32/bfloat16 and shift the scores.

The weights come from `evaluation.fid_weights` (never downloaded).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax.evaluation.fid_preprocessing import (DEFAULT_FID_PROTOCOL, INPUT_SIZE,
                                                 check_fid_protocol, network_input)

POOL3_DIM = 2048
NUM_LOGITS = 1008
BATCH_NORM_EPSILON = 1e-3

_PRECISION = jax.lax.Precision.HIGHEST

Variables = dict[str, Any]


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
