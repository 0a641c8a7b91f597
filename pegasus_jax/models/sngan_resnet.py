"""The SN-GAN CIFAR-10 ResNet generator and discriminator (Miyato et al. 2018, appendix B, table 4).

Generator: z -> Dense 4x4xG -> log2(S/4) up-ResBlocks (G channels) -> BN -> ReLU -> conv3x3 ->
tanh. Discriminator: an optimised first block, more down-ResBlocks until 8x8, two plain
ResBlocks, ReLU, global *sum* pooling, a linear logit (for S=32: 32->16->8->8->8, D channels).
The resampling is a field, so the same networks serve SN-GAN (the paper: `upsample='nearest'`,
`downsample='avg_pool'`, the defaults) and the WGAN-GP write-up, which changes resolution with
DepthToSpace / SpaceToDepth instead:

- `upsample='depth_to_space'`: every "upsample then conv kxk" of the block (the residual
  branch's first conv3x3 and the shortcut's conv1x1) becomes a sub-pixel convolution: the same
  kxk conv run at the low resolution to 4C channels, then `depth_to_space`. Same FLOPs as the
  nearest version and 4x the parameters of those two convs; nearest-then-conv is one setting of
  it (each output phase reads at most a kxk low-resolution window), so it is strictly more
  expressive. `icnr=True` (Aitken et al. 2017) starts it with its four phases equal, i.e. as
  "conv at low resolution, then nearest upsampling", without the sub-pixel checkerboard.
- `downsample='space_to_depth'`: every "conv kxk then avg-pool" (the residual branch's second
  conv3x3 and the shortcut's conv1x1) becomes `space_to_depth` followed by that conv, mapping
  4C -> C at the low resolution: a learned stride-2 layer, of which conv-then-avg-pool is one
  setting (its 4x4 stride-2 footprint fits the 3x3 window of 2x2 blocks). The first conv3x3 of
  each block stays at full resolution.

Conditioning (`num_classes > 0`): every batch norm of G becomes a conditional batch norm (a
per-class gain and bias), and D becomes a projection discriminator (Miyato & Koyama 2018):
logit = linear(h) + <embed(y), h>. Spectral norm (D, `spectral_norm=True`) uses
`flax.linen.SpectralNorm` exactly like `dcgan.py`, with its state in the `spectral` collection.

Initialisation follows the authors' chainer code: Xavier-uniform with gain sqrt(2) for the
residual-branch convs (they feed a ReLU) and gain 1 for shortcuts, the input Dense, the output
conv, the logit layer and the projection embedding. (Under spectral norm the scale is moot:
`flax.linen.SpectralNorm` stores the initial kernel already divided by its estimated sigma.)

Convolutions are `PatchConv`: an HWIO kernel computed either as shifted views + one matmul
(`conv_impl='matmul'`) or by `lax.conv_general_dilated` (`'conv'`). Same parameters, same
function; only the arithmetic differs. On XLA:CPU a convolution under `vmap` (the stacked class
discriminators) becomes a grouped convolution; the matmul form becomes a batched matmul.
`python benchmarks/sngan_resnet.py` (jax 0.10.2, XLA:CPU, 2 shared cores, batch 64, the paper's
widths; one jitted grad call, ms; load average 4-8 from other jobs, so absolute times are
pessimistic and each ratio compares two moments of a noisy machine):

  fwd + bwd                      matmul      conv   conv/matmul
  stacked D avg_pool       K=1     3885      5543     1.43x
                           K=2     8872     38154     4.30x
                           K=4    17929    101324     5.65x
  G nearest                       16192     28034     1.73x
  stacked D space_to_depth K=1     1886      1656     0.88x
                           K=2     4215     16504     3.92x
  G depth_to_space                10807     25536     2.36x

So both networks default to conv_impl='matmul': 4-6x faster for the stacked discriminators
(K >= 2, the JointGAN case), and on this CPU faster for the un-vmapped generator too.

`dtype` is the compute dtype (config.precision, `pegasus_jax.run.precision`): every `PatchConv`
(both impls), the input Dense and the batch norms' outputs run in it. Parameters, batch-norm
statistics (Flax reduces them in float32) and spectral norm's power iteration stay float32. G's
images are float32; D's pooled features are summed and its head (logit layer and projection)
computed in float32, since they go straight into the loss.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from pegasus_jax.models import conv_forms
from pegasus_jax.models.dcgan import SPECTRAL_COLLECTION
from pegasus_jax.models.resampling import depth_to_space, icnr, space_to_depth
from pegasus_jax.run.precision import add_bias

Initializer = Callable[..., jax.Array]

SUPPORTED_IMAGE_SIZES = (16, 32, 64)
UPSAMPLE_METHODS = ("nearest", "depth_to_space")
DOWNSAMPLE_METHODS = ("avg_pool", "space_to_depth")
CONV_IMPLS = ("matmul", "conv")


def glorot_uniform(gain: float = 1.0) -> Initializer:
  """Xavier-uniform scaled by `gain` (chainer's `GlorotUniform(scale=gain)`)."""
  return nn.initializers.variance_scaling(gain * gain, "fan_avg", "uniform")


RESIDUAL_INIT = glorot_uniform(2.0 ** 0.5)
SHORTCUT_INIT = glorot_uniform(1.0)


def check_choice(field: str, value: str, allowed: Sequence[str]) -> None:
  """Raise a ValueError that names the config field when `value` is not one of `allowed`."""
  if value not in allowed:
    raise ValueError(f"model.{field}={value!r} is not supported: use one of {tuple(allowed)}")


def num_generator_blocks(image_size: int) -> int:
  """log2(image_size / 4) up-blocks from the 4x4 base; raises for sizes the ResNet does not cover."""
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(f"model.image_size={image_size} is not supported by the SN-GAN ResNet: "
                     f"use one of {SUPPORTED_IMAGE_SIZES}")
  return image_size.bit_length() - 3


def upsample_nearest(x: jax.Array) -> jax.Array:
  """(N, H, W, C) -> (N, 2H, 2W, C), each pixel repeated in a 2x2 block."""
  n, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
  return x.reshape(n, 2 * h, 2 * w, c)


def avg_pool2(x: jax.Array) -> jax.Array:
  """(N, 2H, 2W, C) -> (N, H, W, C), the mean of each 2x2 block."""
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class PatchConv(nn.Module):
  """A stride-1 SAME convolution with an odd square kernel and the usual HWIO `kernel` param.

  impl='matmul' computes it as kxk shifted views concatenated on channels, then one
  `patches @ kernel.reshape(k*k*Cin, Cout)`: under `vmap` that is a batched matmul, where a
  convolution becomes a grouped convolution that XLA:CPU runs several times slower.
  impl='conv' is `lax.conv_general_dilated` (kept for other backends and for the benchmark).
  Both are the same function of the same parameters, so spectral norm and checkpoints do not
  see the choice. `dtype` (None: the input's) is what the input and kernel are cast to for the
  arithmetic; the parameters stay float32, and the bias is added in float32 (`add_bias`).
  """

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  kernel_init: Initializer = SHORTCUT_INIT
  impl: str = "matmul"
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    check_choice("conv_impl", self.impl, CONV_IMPLS)
    k, cin = self.kernel_size, x.shape[-1]
    if k % 2 != 1:
      raise ValueError(f"PatchConv needs an odd kernel_size, got {k}")
    if self.dtype is not None:
      x = x.astype(self.dtype)
    kernel = self.param("kernel", self.kernel_init, (k, k, cin, self.features)).astype(x.dtype)
    y = (conv_forms.conv_lax if self.impl == "conv" else conv_forms.conv_patches)(x, kernel)
    if self.use_bias:
      y = add_bias(y, self.param("bias", nn.initializers.zeros, (self.features,)))
    return y


def class_embedding(embed: nn.Embed, labels: jax.Array) -> jax.Array:
  """The rows of `embed` for integer labels (N,), or for float class weights (N, K) the blends
  sum_k w_k row_k (class-embedding blending, as in BigGAN's class hybrids); elementwise, so a
  one-hot weight gives its class's row exactly."""
  if jnp.issubdtype(labels.dtype, jnp.floating):
    return jnp.sum(labels[:, :, None] * embed.embedding[None], axis=1)
  return embed(labels)


class ConditionalBatchNorm(nn.Module):
  """Batch norm; with num_classes > 0 its gain and bias are looked up per class (init 1 and 0),
  or blended for float class weights (N, K) (`class_embedding`).

  The class-conditional form (de Vries et al. 2017, as in SN-GAN's conditional generator)
  normalises without a shared scale/bias, then applies embed_gain[y] and embed_bias[y].
  The whole layer computes in float32 (statistics, normalisation, the per-class gain and bias,
  whose gradients sum over every pixel) and returns `dtype`: elementwise work, it fuses.
  """

  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    conditional = self.num_classes > 0
    # PyTorch's defaults (momentum 0.1 there is 0.9 here), as in dcgan.py.
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     use_scale=not conditional, use_bias=not conditional,
                     dtype=jnp.float32)(x)
    if conditional:
      c = x.shape[-1]
      gain = class_embedding(nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones,
                                      name="gain"), labels)
      bias = class_embedding(nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros,
                                      name="bias"), labels)
      x = x * gain[:, None, None, :] + bias[:, None, None, :]
    return x.astype(self.dtype)


def _upsample_conv(x: jax.Array, features: int, kernel_size: int, method: str, use_icnr: bool,
                   kernel_init: Initializer, impl: str, name: str, dtype: Any) -> jax.Array:
  """x2 upsampling followed by a kxk conv, or its sub-pixel counterpart (see module docstring)."""
  if method == "nearest":
    if kernel_size == 1:  # a 1x1 conv commutes with nearest upsampling: convolve 4x fewer pixels
      return upsample_nearest(PatchConv(features, 1, kernel_init=kernel_init, impl=impl,
                                        dtype=dtype, name=name)(x))
    return PatchConv(features, kernel_size, kernel_init=kernel_init, impl=impl, dtype=dtype,
                     name=name)(upsample_nearest(x))
  init = icnr(kernel_init) if use_icnr else kernel_init
  return depth_to_space(PatchConv(4 * features, kernel_size, kernel_init=init, impl=impl,
                                  dtype=dtype, name=name)(x))


class GeneratorBlock(nn.Module):
  """Up-ResBlock: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, plus the shortcut up-conv1x1."""

  features: int
  upsample: str = "nearest"
  num_classes: int = 0
  icnr: bool = False
  conv_impl: str = "matmul"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    bn = lambda name: ConditionalBatchNorm(self.num_classes, self.dtype, name=name)
    h = nn.relu(bn("bn1")(x, labels, train))
    h = _upsample_conv(h, self.features, 3, self.upsample, self.icnr, RESIDUAL_INIT,
                       self.conv_impl, "conv1", self.dtype)
    h = nn.relu(bn("bn2")(h, labels, train))
    h = PatchConv(self.features, 3, kernel_init=RESIDUAL_INIT, impl=self.conv_impl,
                  dtype=self.dtype, name="conv2")(h)
    shortcut = _upsample_conv(x, self.features, 1, self.upsample, self.icnr, SHORTCUT_INIT,
                              self.conv_impl, "shortcut", self.dtype)
    return h + shortcut


def _check_labels(num_classes: int, labels: jax.Array | None) -> None:
  if num_classes > 0 and labels is None:
    raise ValueError(f"model.num_classes={num_classes}: the network needs integer labels (N,)")
  if num_classes == 0 and labels is not None:
    raise ValueError("labels were given to an unconditional network (model.num_classes=0)")


class Generator(nn.Module):
  """z (N, z_dim) [, labels (N,) int or class weights (N, K) float] -> images (N, S, S, channels)
  in [-1, 1]."""

  image_size: int = 32
  width: int = 256
  channels: int = 3
  upsample: str = "nearest"
  num_classes: int = 0
  icnr: bool = False
  conv_impl: str = "matmul"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    check_choice("upsample", self.upsample, UPSAMPLE_METHODS)
    check_choice("conv_impl", self.conv_impl, CONV_IMPLS)
    _check_labels(self.num_classes, labels)
    blocks = num_generator_blocks(self.image_size)
    x = nn.Dense(4 * 4 * self.width, kernel_init=SHORTCUT_INIT, dtype=self.dtype)(z)
    x = x.reshape(z.shape[0], 4, 4, self.width)
    for _ in range(blocks):
      x = GeneratorBlock(self.width, self.upsample, self.num_classes, self.icnr,
                         self.conv_impl, self.dtype)(x, labels, train)
    x = nn.relu(ConditionalBatchNorm(self.num_classes, self.dtype)(x, labels, train))
    x = PatchConv(self.channels, 3, kernel_init=SHORTCUT_INIT, impl=self.conv_impl,
                  dtype=self.dtype)(x)
    return jnp.tanh(x.astype(jnp.float32))


def _maybe_spectral(module: nn.Module, x: jax.Array, spectral_norm: bool,
                    update_stats: bool) -> jax.Array:
  if spectral_norm:
    return nn.SpectralNorm(module, collection_name=SPECTRAL_COLLECTION)(
        x, update_stats=update_stats)
  return module(x)


class DiscriminatorBlock(nn.Module):
  """Down-ResBlock: [ReLU]-conv3x3-ReLU-conv3x3-down, plus the shortcut down-conv1x1.

  `optimized` is SN-GAN's first block (no ReLU before the first conv, shortcut always
  learned); `downsample=None` keeps the resolution, with an identity shortcut when the channels
  match. A 1x1 shortcut commutes with avg-pooling, so it pools first (4x fewer pixels).
  """

  features: int
  downsample: str | None = "avg_pool"
  optimized: bool = False
  spectral_norm: bool = True
  conv_impl: str = "matmul"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool) -> jax.Array:
    x = x.astype(self.dtype)  # the identity shortcut adds x to the convolutions' output

    def conv(inputs: jax.Array, kernel_size: int, init: Initializer, name: str) -> jax.Array:
      module = PatchConv(self.features, kernel_size, kernel_init=init, impl=self.conv_impl,
                         dtype=self.dtype, name=name)
      return _maybe_spectral(module, inputs, self.spectral_norm, update_stats)

    h = x if self.optimized else nn.relu(x)
    h = nn.relu(conv(h, 3, RESIDUAL_INIT, "conv1"))
    shortcut = x
    if self.downsample == "avg_pool":
      h = avg_pool2(conv(h, 3, RESIDUAL_INIT, "conv2"))
      shortcut = conv(avg_pool2(x), 1, SHORTCUT_INIT, "shortcut")
    elif self.downsample == "space_to_depth":
      h = conv(space_to_depth(h), 3, RESIDUAL_INIT, "conv2")
      shortcut = conv(space_to_depth(x), 1, SHORTCUT_INIT, "shortcut")
    else:
      h = conv(h, 3, RESIDUAL_INIT, "conv2")
      if self.optimized or x.shape[-1] != self.features:
        shortcut = conv(x, 1, SHORTCUT_INIT, "shortcut")
    return h + shortcut


class Discriminator(nn.Module):
  """images (N, S, S, C) [, labels=(N,) int] -> logits (N,).

  Call-compatible with `dcgan.Discriminator`: `(x, update_stats, train)`; `update_stats`
  advances the spectral-norm power iteration, `train` is unused (no batch norm in D) and kept
  so the families can swap networks by config. Conditional (num_classes > 0): pass
  `labels=` and the logit gains the projection term <embed(y), h>. The pooled features h
  (N, width) are sown as `intermediates/features` (apply with mutable=['intermediates']).
  """

  image_size: int = 32
  width: int = 128
  downsample: str = "avg_pool"
  spectral_norm: bool = True
  num_classes: int = 0
  conv_impl: str = "matmul"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False, train: bool = True, *,
               labels: jax.Array | None = None) -> jax.Array:
    del train
    check_choice("downsample", self.downsample, DOWNSAMPLE_METHODS)
    check_choice("conv_impl", self.conv_impl, CONV_IMPLS)
    _check_labels(self.num_classes, labels)
    # As many halvings as G has doublings, less one: every size ends at 8x8 (32: 32->16->8).
    downs = num_generator_blocks(self.image_size) - 1
    block = lambda down, optimized=False: DiscriminatorBlock(
        self.width, self.downsample if down else None, optimized, self.spectral_norm,
        self.conv_impl, self.dtype)
    h = block(True, optimized=True)(x, update_stats)
    for _ in range(downs - 1):
      h = block(True)(h, update_stats)
    for _ in range(2):
      h = block(False)(h, update_stats)
    h = jnp.sum(nn.relu(h).astype(jnp.float32), axis=(1, 2))  # the head runs in float32
    self.sow("intermediates", "features", h)
    logits = _maybe_spectral(nn.Dense(1, kernel_init=SHORTCUT_INIT, name="logit"), h,
                             self.spectral_norm, update_stats)[:, 0]
    if self.num_classes > 0:
      embed = nn.Embed(self.num_classes, self.width, embedding_init=SHORTCUT_INIT,
                       name="projection")
      logits = logits + jnp.sum(
          _maybe_spectral(embed, labels, self.spectral_norm, update_stats) * h, axis=-1)
    return logits


def class_discriminators(num_classes_stacked: int, **discriminator_kwargs) -> nn.Module:
  """K independent unconditional `Discriminator`s as one module; variables carry a leading K axis.

  Built with `nn.vmap` like `dcgan.class_discriminators` (each class its own initialisation),
  called as `module(images, update_stats, train)` with images (K, N, S, S, C) -> logits (K, N).
  The JointGAN class discriminators are each unconditional, so `num_classes` is refused here.
  """
  if discriminator_kwargs.get("num_classes", 0):
    raise ValueError("class_discriminators stacks unconditional discriminators: "
                     "leave model.num_classes at 0")
  stacked = nn.vmap(
      Discriminator,
      variable_axes={"params": 0, SPECTRAL_COLLECTION: 0, "intermediates": 0},
      split_rngs={"params": True},
      in_axes=(0, None, None),
      out_axes=0,
      axis_size=num_classes_stacked,
  )
  return stacked(**discriminator_kwargs)
