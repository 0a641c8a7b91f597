"""Exact alternative forms of the project's convolutions, and the per-backend choice among them.

Why: XLA:CPU runs a plain stride-1 convolution and a strided forward convolution on its fast
(YNNPACK/oneDNN) path, but an lhs-dilated convolution (a transposed convolution, or the input
gradient of a strided one) and an rhs-dilated one (the kernel gradient of a strided
convolution, or any kernel gradient it computes as a convolution over the batch) stay on a slow
Eigen path (BENCHMARKS.md; jax-ml/jax#23783, #31662, openxla/xla#34273). Every form below
computes exactly the function of `lax.conv_general_dilated` (same parameters, same outputs and
gradients within float32 rounding, `tests/test_conv_forms.py`); they differ only in which
primitive does the arithmetic:

- `conv_s1`: a stride-1 convolution whose backward pass is a plain stride-1 convolution (input
  gradient: the flipped kernel over the padded cotangent) and kh*kw GEMMs over shifted views of
  the input (kernel gradient): no dilation anywhere.
- Three layer kinds, each with its forms (`FORMS`):
  * `conv`: stride-1 'SAME' convolution with an odd kernel (SN-GAN ResNet, classifier);
  * `down`: PyTorch's `Conv2d(4, stride=2, padding=1)` (DCGAN/JointGAN discriminators);
  * `up`: PyTorch's `ConvTranspose2d(4, stride=2, padding=1)` (DCGAN/JointGAN generators).
- Under `vmap` (the JointGAN discriminator stack) a convolution whose kernel is batched becomes a
  grouped convolution, which XLA:CPU runs about 10x slower than K separate ones; the
  convolutions inside these forms batch instead as one bigger batch (shared kernel) or as K
  separate convolutions (`jax.custom_batching.custom_vmap`).

`best_form(kind)` names the fastest form per backend, decided once at trace time from
`jax.default_backend()`: `BEST_FORMS` holds the table (CPU entries from
`benchmarks/conv_layers.py`; GPU and TPU keep the forms the models had when measured on the
H200). `FORMS` also names those forms (`patches`, `conv3x3`), so a model layer is a parameter
plus `conv_fn(kind)`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import custom_batching, lax

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
Padding = tuple[tuple[int, int], tuple[int, int]]
ConvFn = Callable[[jax.Array, jax.Array], jax.Array]
VALID: Padding = ((0, 0), (0, 0))


# -- rearrangements --------------------------------------------------------------------------------
def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """(N, H, W, b*b*C) -> (N, b*H, b*W, C); channel index (a, c, ch) lands at row b*i+a, column b*j+c."""
  n, h, w, c = x.shape
  out = c // (block * block)
  x = x.reshape(n, h, w, block, block, out)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * block, w * block, out)


def space_to_depth(x: jax.Array, block: int = 2) -> jax.Array:
  """The inverse of `depth_to_space`: (N, b*H, b*W, C) -> (N, H, W, b*b*C)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // block, block, w // block, block, c)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // block, w // block, block * block * c)


def same_padding(kernel_size: int) -> Padding:
  """'SAME' padding of a stride-1 convolution with an odd kernel."""
  if kernel_size % 2 != 1:
    raise ValueError(f"'SAME' padding here needs an odd kernel size, got {kernel_size}")
  p = kernel_size // 2
  return ((p, p), (p, p))


# -- convolutions that batch as one bigger batch or K separate convolutions ------------------------
def _stack_batched(fn: ConvFn) -> ConvFn:
  """`fn(x, w)` (x batched along its axis 0) whose `vmap` never becomes a grouped convolution.

  Shared kernel: the stack is folded into the batch (one convolution). Batched kernel: K
  separate convolutions, unrolled (K is the number of stacked discriminators, at most a few
  tens), where XLA's own batching rule would emit one grouped convolution.
  """
  batched = custom_batching.custom_vmap(fn)

  @batched.def_vmap
  def _rule(axis_size, in_batched, x, w):
    x_batched, w_batched = in_batched
    if not w_batched:
      y = batched(x.reshape((-1,) + x.shape[2:]), w)
      return y.reshape((axis_size, x.shape[1]) + y.shape[1:]), True
    if not x_batched:
      x = jnp.broadcast_to(x, (axis_size,) + x.shape)
    return jnp.stack([batched(x[k], w[k]) for k in range(axis_size)]), True

  return batched


@functools.lru_cache(maxsize=None)
def _lax_conv(strides: tuple[int, int], padding: Padding,
              lhs_dilation: tuple[int, int] = (1, 1)) -> ConvFn:
  def conv(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, w, strides, padding, lhs_dilation=lhs_dilation,
                                    dimension_numbers=DIMENSIONS)
  return _stack_batched(conv)


def _flip_transpose(w: jax.Array) -> jax.Array:
  """The kernel of the input gradient: spatially flipped, input and output channels swapped."""
  return jnp.flip(w, (0, 1)).swapaxes(2, 3)


def kernel_grad_gemm(x: jax.Array, dy: jax.Array, kernel_hw: tuple[int, int],
                     padding: Padding) -> jax.Array:
  """dL/dkernel of a stride-1 convolution as kh*kw GEMMs (shifted input^T @ dy), float32 sums.

  XLA:CPU computes a kernel gradient as a convolution over the batch, off its fast path; a GEMM
  over a shifted view needs no dilation and no materialised patches.
  """
  kh, kw = kernel_hw
  (top, bottom), (left, right) = padding
  padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  n, ho, wo, cout = dy.shape
  cin = x.shape[-1]
  dy_rows = dy.reshape(n * ho * wo, cout)
  taps = [lax.dot_general(padded[:, i:i + ho, j:j + wo].reshape(n * ho * wo, cin), dy_rows,
                          (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
          for i in range(kh) for j in range(kw)]
  return jnp.stack(taps).reshape(kh, kw, cin, cout)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_s1(x: jax.Array, w: jax.Array, padding: Padding) -> jax.Array:
  """Stride-1 convolution (NHWC, HWIO, explicit padding) whose backward pass is dilation-free.

  Input gradient: a stride-1 convolution of the cotangent with the flipped kernel; kernel
  gradient: `kernel_grad_gemm`. `padding` must be a tuple of int pairs (it is static).
  Differentiable to any order (the backward pass is conv_s1 and GEMMs).
  """
  return _lax_conv((1, 1), padding)(x, w)


def _conv_s1_fwd(x, w, padding):
  return conv_s1(x, w, padding), (x, w)


def _conv_s1_bwd(padding, residuals, dy):
  x, w = residuals
  kh, kw = w.shape[:2]
  (top, bottom), (left, right) = padding
  input_padding = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
  # conv_s1 itself (not the bare stacked convolution, which has no autodiff rule), so the
  # backward pass is differentiable again: a gradient penalty differentiates through it.
  dx = conv_s1(dy, _flip_transpose(w).astype(dy.dtype), input_padding)
  dw = kernel_grad_gemm(x, dy, (kh, kw), padding)
  return dx.astype(x.dtype), dw.astype(w.dtype)


conv_s1.defvjp(_conv_s1_fwd, _conv_s1_bwd)


# -- kind 'conv': stride-1 'SAME', odd kernel ----------------------------------------------------
def conv_lax(x: jax.Array, w: jax.Array) -> jax.Array:
  """The reference: `lax.conv_general_dilated`, stride 1, 'SAME'."""
  return lax.conv_general_dilated(x, w, (1, 1), same_padding(w.shape[0]),
                                  dimension_numbers=DIMENSIONS)


def conv_dilation_free(x: jax.Array, w: jax.Array) -> jax.Array:
  """Stride-1 'SAME' convolution with `conv_s1`'s backward pass."""
  return conv_s1(x, w, same_padding(w.shape[0]))


def conv_patches(x: jax.Array, w: jax.Array) -> jax.Array:
  """kxk shifted views concatenated on channels, then one `patches @ kernel` (sngan_resnet's
  default): under `vmap` a batched matmul, never a grouped convolution."""
  (p, _), _ = same_padding(w.shape[0])
  k, cin, cout = w.shape[0], w.shape[2], w.shape[3]
  h, wd = x.shape[-3], x.shape[-2]
  if k > 1:
    padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    # Order (dh, dw, cin) matches the row-major flattening of the HWIO kernel.
    x = jnp.concatenate(
        [padded[:, dh:dh + h, dw:dw + wd] for dh in range(k) for dw in range(k)], axis=-1)
  return jnp.dot(x, w.reshape(k * k * cin, cout).astype(x.dtype))


# -- kind 'down': Conv2d(4, stride 2, padding 1) --------------------------------------------------
def _check_down(x: jax.Array, w: jax.Array) -> None:
  if w.shape[:2] != (4, 4) or x.shape[1] % 2 or x.shape[2] % 2:
    raise ValueError(f"the stride-2 forms need a 4x4 kernel and even H, W; got kernel "
                     f"{w.shape} and input {x.shape}")


def down_lax(x: jax.Array, w: jax.Array) -> jax.Array:
  """The reference: `lax.conv_general_dilated`, stride 2, padding 1."""
  return lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=DIMENSIONS)


def down_kernel_to_s2d(w: jax.Array) -> jax.Array:
  """(4, 4, C, O) -> (2, 2, 4C, O): kernel row 2q + b is tap q of block offset b."""
  cin, cout = w.shape[2:]
  w = w.reshape(2, 2, 2, 2, cin, cout)  # (qh, bh, qw, bw, c, o)
  return w.transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * cin, cout)


def s2d_kernel_to_down(w2: jax.Array) -> jax.Array:
  """The inverse of `down_kernel_to_s2d`."""
  cin, cout = w2.shape[2] // 4, w2.shape[3]
  w2 = w2.reshape(2, 2, 2, 2, cin, cout)  # (qh, qw, bh, bw, c, o)
  return w2.transpose(0, 2, 1, 3, 4, 5).reshape(4, 4, cin, cout)


def down_s2d(x: jax.Array, w: jax.Array) -> jax.Array:
  """Pad 1, space-to-depth, then a 2x2 VALID `conv_s1`: every pass a stride-1 convolution.

  Its input gradient is the sub-pixel form of the transposed convolution (`up_subpixel`).
  """
  _check_down(x, w)
  xs = space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
  return conv_s1(xs, down_kernel_to_s2d(w).astype(x.dtype), VALID)


def down_patches(x: jax.Array, w: jax.Array) -> jax.Array:
  """Pad 1, space-to-depth, then the 2x2 VALID convolution as four shifted views and one matmul
  (resampling.DownConv until now): under `vmap` a batched matmul."""
  _check_down(x, w)
  cin, cout = w.shape[2:]
  xs = space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
  h, wd = xs.shape[1] - 1, xs.shape[2] - 1
  patches = jnp.concatenate(
      [xs[:, qh:qh + h, qw:qw + wd] for qh in (0, 1) for qw in (0, 1)], axis=-1)
  return jnp.dot(patches, down_kernel_to_s2d(w).reshape(16 * cin, cout).astype(x.dtype))


@jax.custom_vjp
def down_strided_gemm_dw(x: jax.Array, w: jax.Array) -> jax.Array:
  """XLA's strided convolution and input gradient, the kernel gradient as 4 GEMMs.

  The kernel gradient runs on the space-to-depth input (4 shifted views, no dilation).
  First-order only: its input gradient is a stacked convolution without an autodiff rule.
  """
  _check_down(x, w)
  return _lax_conv((2, 2), ((1, 1), (1, 1)))(x, w)


def _down_input_grad(dy: jax.Array, w: jax.Array) -> jax.Array:
  # The transpose of the strided convolution, as XLA derives it (its backward-input form).
  shape = (dy.shape[0], 2 * dy.shape[1], 2 * dy.shape[2], w.shape[2])
  return jax.vjp(lambda x: down_lax(x, w), jnp.zeros(shape, dy.dtype))[1](dy)[0]


def _down_gemm_fwd(x, w):
  return down_strided_gemm_dw(x, w), (x, w)


def _down_gemm_bwd(residuals, dy):
  x, w = residuals
  dx = _stack_batched(_down_input_grad)(dy, w.astype(dy.dtype))
  xs = space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
  dw = s2d_kernel_to_down(kernel_grad_gemm(xs, dy, (2, 2), VALID))
  return dx.astype(x.dtype), dw.astype(w.dtype)


down_strided_gemm_dw.defvjp(_down_gemm_fwd, _down_gemm_bwd)


# -- kind 'up': ConvTranspose2d(4, stride 2, padding 1) -------------------------------------------
# Output row 2m + a reads padded input rows m + a (tap 0) and m + a + 1 (tap 1) through kernel
# rows _PHASE_TAPS[a] (from out[2i - 1 + k] += x[i] w[k]); the same for columns.
_PHASE_TAPS = np.array([[3, 1], [2, 0]])


# The same map on a 3x3 window of the unpadded-by-phase input: row 2i + a reads rows i-1, i, i+1
# through kernel rows _UP3_TAPS[a] (-1: no contribution), for `up_conv3x3`.
_UP3_TAPS = ((3, 1, -1), (-1, 2, 0))
_UP3_SELECT = np.zeros((2, 3, 4), np.float32)
for _phase, _taps in enumerate(_UP3_TAPS):
  for _tap, _k in enumerate(_taps):
    if _k >= 0:
      _UP3_SELECT[_phase, _tap, _k] = 1.0


def up_lax(x: jax.Array, w: jax.Array) -> jax.Array:
  """The reference: the transposed convolution as an lhs-dilated `lax.conv_general_dilated`."""
  return lax.conv_general_dilated(x, jnp.flip(w, (0, 1)), (1, 1), ((2, 2), (2, 2)),
                                  lhs_dilation=(2, 2), dimension_numbers=DIMENSIONS)


def up_kernel_to_subpixel(w: jax.Array) -> jax.Array:
  """(4, 4, C, O) -> (2, 2, C, 4O): tap (th, tw) of phase (a, b) is w[_PHASE_TAPS[a, th], ...]."""
  cin, cout = w.shape[2:]
  w = w[_PHASE_TAPS][:, :, _PHASE_TAPS]  # (a, th, b, tw, c, o)
  return w.transpose(1, 3, 4, 0, 2, 5).reshape(2, 2, cin, 4 * cout)


def _interleave_phases(y: jax.Array, h: int, w: int) -> jax.Array:
  """(N, H+1, W+1, 2, 2, O) phase outputs -> (N, 2H, 2W, O); phase (a, b) starts at (a, b)."""
  rows = [jnp.stack([y[:, a:a + h, b:b + w, a, b] for b in (0, 1)], axis=3) for a in (0, 1)]
  out = jnp.stack(rows, axis=2)  # (N, H, 2, W, 2, O)
  n, cout = y.shape[0], y.shape[-1]
  return out.reshape(n, 2 * h, 2 * w, cout)


def up_subpixel(x: jax.Array, w: jax.Array) -> jax.Array:
  """One 2x2 `conv_s1` to the four output phases (exactly the transposed convolution's taps).

  Computed on the (H+1) x (W+1) grid of the padded input (each phase uses H x W of it), so it
  does (H+1)(W+1)/(HW) times the exact arithmetic: 1.56x at 4x4, 1.13x at 16x16.
  """
  n, h, wd, _ = x.shape
  y = conv_s1(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))),
              up_kernel_to_subpixel(w).astype(x.dtype), VALID)
  return _interleave_phases(y.reshape(n, h + 1, wd + 1, 2, 2, -1), h, wd)


def up_subpixel_phases(x: jax.Array, w: jax.Array) -> jax.Array:
  """Four 2x2 `conv_s1`s, one per output phase: exactly the transposed convolution's FLOPs."""
  n, h, wd, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  kernels = w.astype(x.dtype)[_PHASE_TAPS][:, :, _PHASE_TAPS]  # (a, th, b, tw, c, o)
  rows = [jnp.stack([conv_s1(padded[:, a:a + h + 1, b:b + wd + 1], kernels[a, :, b], VALID)
                     for b in (0, 1)], axis=3) for a in (0, 1)]
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * wd, w.shape[-1])


def up_conv3x3(x: jax.Array, w: jax.Array) -> jax.Array:
  """A 3x3 stride-1 convolution to 4 phases x O channels, then depth-to-space (resampling.UpConv
  until now): 9 taps per phase where 4 contribute, 2.25x the transposed convolution's FLOPs."""
  cin, cout = w.shape[2:]
  select = jnp.asarray(_UP3_SELECT, w.dtype)
  # k3[th, tw, i, a, b, o] = sum_{kh,kw} S[a,th,kh] S[b,tw,kw] w[kh,kw,i,o]
  k3 = jnp.einsum("ahk,bwl,klio->hwiabo", select, select, w).reshape(3, 3, cin, 4 * cout)
  y = lax.conv_general_dilated(x, k3.astype(x.dtype), (1, 1), ((1, 1), (1, 1)),
                               dimension_numbers=DIMENSIONS)
  return depth_to_space(y, 2)


def up_zero_insert(x: jax.Array, w: jax.Array) -> jax.Array:
  """Zeros inserted explicitly (interior padding), then a 4x4 `conv_s1` with the flipped kernel.

  4x the arithmetic of the transposed convolution (three in four inputs are zeros), but no
  dilated convolution in any pass (equinox#1259's rewrite).
  """
  zero = jnp.zeros((), x.dtype)
  dilated = lax.pad(x, zero, ((0, 0, 0), (2, 2, 1), (2, 2, 1), (0, 0, 0)))
  return conv_s1(dilated, jnp.flip(w, (0, 1)).astype(x.dtype), VALID)


# -- the table -----------------------------------------------------------------------------------
FORMS: dict[str, dict[str, ConvFn]] = {
    "conv": {"lax": conv_lax, "dilation_free": conv_dilation_free, "patches": conv_patches},
    "down": {"lax": down_lax, "s2d": down_s2d, "strided_gemm_dw": down_strided_gemm_dw,
             "patches": down_patches},
    "up": {"lax": up_lax, "subpixel": up_subpixel, "subpixel_phases": up_subpixel_phases,
           "zero_insert": up_zero_insert, "conv3x3": up_conv3x3},
}

# The fastest exact form per backend and layer kind. CPU: benchmarks/conv_layers.py (BENCHMARKS.md,
# "Convolution forms"): `up` moved to `subpixel` (1.1x-2.3x faster than `conv3x3` on every
# DCGAN/JointGAN up layer, fwd + dx + dw, measured under load); `conv` and `down` keep the
# models' forms until a quiet run shows a clear gain. GPU and TPU: the forms the models used when
# they were measured there (the H200 section), until a device run of conv_layers.py says otherwise.
_MEASURED_ON_GPU = {"conv": "patches", "down": "patches", "up": "conv3x3"}
BEST_FORMS: dict[str, dict[str, str]] = {
    "cpu": {"conv": "patches", "down": "patches", "up": "subpixel"},
    "gpu": dict(_MEASURED_ON_GPU),
    "tpu": dict(_MEASURED_ON_GPU),
}


def best_form(kind: str, backend: str | None = None) -> str:
  """The name of the fastest exact form of `kind` on `backend` (default: JAX's default backend)."""
  if kind not in FORMS:
    raise ValueError(f"unknown convolution kind {kind!r}; valid: {sorted(FORMS)}")
  table = BEST_FORMS.get(backend or jax.default_backend(), BEST_FORMS["gpu"])
  return table[kind]


def conv_fn(kind: str, form: str | None = None) -> ConvFn:
  """The function `(x, w) -> y` of form `form` (default: `best_form(kind)`) of layer `kind`."""
  form = form or best_form(kind)
  if kind not in FORMS or form not in FORMS[kind]:
    raise ValueError(f"unknown convolution form {kind!r}/{form!r}; valid: "
                     f"{ {k: sorted(v) for k, v in FORMS.items()} }")
  return FORMS[kind][form]
