"""Every form in models/conv_forms.py is lax.conv_general_dilated's function: outputs, input
gradients and kernel gradients, alone and under vmap over a stack of K kernels."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.models import conv_forms
from pegasus_jax.models.resampling import DownConv, UpConv

# (kind, input shape NHWC, kernel shape HWIO): the models' cases at tiny sizes, odd sizes too.
CASES = {
    "conv": [((2, 7, 5, 3), (3, 3, 3, 4)), ((2, 6, 6, 5), (1, 1, 5, 3))],
    "down": [((2, 8, 6, 3), (4, 4, 3, 5)), ((3, 4, 4, 4), (4, 4, 4, 2))],
    "up": [((2, 4, 3, 5), (4, 4, 5, 3)), ((2, 1, 1, 3), (4, 4, 3, 2))],
}
FORM_CASES = [(kind, form, x_shape, w_shape)
              for kind, forms in conv_forms.FORMS.items() for form in forms if form != "lax"
              for x_shape, w_shape in CASES[kind]]
TOL = dict(rtol=1e-5, atol=1e-5)


def _arrays(x_shape, w_shape, seed=0, k=None):
  rng = np.random.default_rng(seed)
  lead = () if k is None else (k,)
  return (jnp.asarray(rng.normal(size=lead + x_shape), jnp.float32),
          jnp.asarray(rng.normal(size=lead + w_shape), jnp.float32))


def _value_and_grads(fn, x, w, seed=1):
  """y, and dL/dx, dL/dw for L = <y, c> with a fixed random cotangent c."""
  y, vjp = jax.vjp(fn, x, w)
  cotangent = jnp.asarray(np.random.default_rng(seed).normal(size=y.shape), y.dtype)
  return (y,) + vjp(cotangent)


def _assert_same(got, expected):
  for name, g, e in zip(("output", "input gradient", "kernel gradient"), got, expected):
    assert g.shape == e.shape, name
    np.testing.assert_allclose(g, e, **TOL, err_msg=name)


def _naive_transposed_conv(x, w):
  """PyTorch ConvTranspose2d(4, 2, 1) by its definition: out[2i - 1 + k] += x[i] w[k]."""
  n, h, width, _ = x.shape
  out = np.zeros((n, 2 * h, 2 * width, w.shape[-1]))
  for i in range(h):
    for j in range(width):
      for kh in range(4):
        for kw in range(4):
          if 0 <= 2 * i - 1 + kh < 2 * h and 0 <= 2 * j - 1 + kw < 2 * width:
            out[:, 2 * i - 1 + kh, 2 * j - 1 + kw] += x[:, i, j] @ w[kh, kw]
  return out


def test_up_reference_is_pytorchs_transposed_convolution():
  x, w = _arrays((2, 3, 4, 3), (4, 4, 3, 2))
  np.testing.assert_allclose(conv_forms.up_lax(x, w),
                             _naive_transposed_conv(np.asarray(x), np.asarray(w)), atol=1e-5)


@pytest.mark.parametrize("kind,form,x_shape,w_shape", FORM_CASES)
def test_form_matches_lax_outputs_and_gradients(kind, form, x_shape, w_shape):
  x, w = _arrays(x_shape, w_shape)
  reference = conv_forms.conv_fn(kind, "lax")
  _assert_same(_value_and_grads(jax.jit(conv_forms.conv_fn(kind, form)), x, w),
               _value_and_grads(reference, x, w))


@pytest.mark.parametrize("kind,form,x_shape,w_shape",
                         [c for c in FORM_CASES if c[2] == CASES[c[0]][0][0]])
@pytest.mark.parametrize("batched", ["both", "input", "kernel"])
def test_form_matches_lax_under_vmap(kind, form, x_shape, w_shape, batched):
  """K = 3 stacked layers (the JointGAN discriminators): batched input and kernel, or one shared."""
  k = 3
  x, w = _arrays(x_shape, w_shape, k=k)
  x = x if batched != "kernel" else x[0]
  w = w if batched != "input" else w[0]
  in_axes = (0 if batched != "kernel" else None, 0 if batched != "input" else None)
  stacked = lambda fn: jax.vmap(fn, in_axes=in_axes)  # noqa: E731
  got = _value_and_grads(jax.jit(stacked(conv_forms.conv_fn(kind, form))), x, w)
  _assert_same(got, _value_and_grads(stacked(conv_forms.conv_fn(kind, "lax")), x, w))


def test_vmap_of_a_batched_kernel_runs_separate_convolutions():
  """The stacked form emits K plain convolutions, never a grouped one (slow on XLA:CPU)."""
  x, w = _arrays((2, 6, 6, 3), (3, 3, 3, 4), k=2)
  groups = lambda hlo: re.findall(r"feature_group_count = (\d+)", hlo)  # noqa: E731
  hlo = jax.jit(jax.vmap(conv_forms.conv_dilation_free)).lower(x, w).as_text()
  assert groups(hlo) == ["1", "1"]
  reference = jax.jit(jax.vmap(conv_forms.conv_lax)).lower(x, w).as_text()
  assert groups(reference) == ["2"]  # what XLA's own batching rule does


def test_conv_s1_asymmetric_padding_and_second_order_shape():
  x, w = _arrays((2, 5, 6, 3), (2, 3, 3, 4))
  padding = ((0, 1), (2, 0))
  reference = lambda x, w: jax.lax.conv_general_dilated(  # noqa: E731
      x, w, (1, 1), padding, dimension_numbers=conv_forms.DIMENSIONS)
  _assert_same(_value_and_grads(lambda x, w: conv_forms.conv_s1(x, w, padding), x, w),
               _value_and_grads(reference, x, w))


def test_current_layers_match_the_references():
  """resampling.UpConv / DownConv (the models' layers today) against the same references."""
  x, w = _arrays((2, 4, 4, 3), (4, 4, 3, 5))
  up = UpConv(5, use_bias=False).apply({"params": {"kernel": w}}, x)
  np.testing.assert_allclose(up, conv_forms.up_lax(x, w), **TOL)
  x, w = _arrays((2, 8, 8, 3), (4, 4, 3, 5))
  down = DownConv(5, use_bias=False).apply({"params": {"kernel": w}}, x)
  np.testing.assert_allclose(down, conv_forms.down_lax(x, w), **TOL)


def test_kernel_layout_maps_are_inverse():
  w = jnp.arange(4 * 4 * 3 * 2, dtype=jnp.float32).reshape(4, 4, 3, 2)
  np.testing.assert_array_equal(conv_forms.s2d_kernel_to_down(conv_forms.down_kernel_to_s2d(w)), w)
  # every 4x4 tap appears exactly once among the four phases' 2x2 taps
  sub = conv_forms.up_kernel_to_subpixel(w)
  np.testing.assert_array_equal(np.sort(np.asarray(sub).ravel()), np.sort(np.asarray(w).ravel()))


def test_bad_inputs_raise():
  x, w = _arrays((2, 7, 6, 3), (4, 4, 3, 5))
  with pytest.raises(ValueError, match="even H, W"):
    conv_forms.down_s2d(x, w)
  with pytest.raises(ValueError, match="odd kernel"):
    conv_forms.conv_dilation_free(x, w)
  with pytest.raises(ValueError, match="unknown convolution kind"):
    conv_forms.best_form("deconv")
  with pytest.raises(ValueError, match="unknown convolution form"):
    conv_forms.conv_fn("up", "winograd")


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu", None])
def test_best_form_names_a_form_of_every_kind(backend):
  for kind, forms in conv_forms.FORMS.items():
    assert conv_forms.best_form(kind, backend) in forms


@pytest.mark.parametrize("kind,form", [(kind, form) for kind, forms in conv_forms.FORMS.items()
                                       for form in forms if form != "strided_gemm_dw"])
def test_second_order_gradients_match_lax(kind, form):
  """A gradient penalty differentiates the input gradient again (WGAN-GP through D)."""
  x_shape, w_shape = CASES[kind][0]
  x, w = _arrays(x_shape, w_shape)

  def penalty(fn):
    return lambda w: jnp.sum(jax.grad(lambda x: jnp.sum(fn(x, w) ** 2))(x) ** 2)

  np.testing.assert_allclose(jax.grad(penalty(conv_forms.conv_fn(kind, form)))(w),
                             jax.grad(penalty(conv_forms.conv_fn(kind, "lax")))(w),
                             rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind,form", [(kind, form) for kind in ("up", "down")
                                       for form in conv_forms.FORMS[kind]])
def test_layers_compute_the_same_whatever_form_the_table_picks(monkeypatch, kind, form):
  """UpConv / DownConv read the table at trace time; every entry gives the same layer."""
  monkeypatch.setitem(conv_forms.BEST_FORMS, jax.default_backend(),
                      dict(conv_forms.BEST_FORMS[jax.default_backend()], **{kind: form}))
  x, w = _arrays((2, 4, 4, 3), (4, 4, 3, 5))
  layer = (UpConv if kind == "up" else DownConv)(5, use_bias=False)
  assert jax.eval_shape(layer.init, jax.random.PRNGKey(0), x)["params"]["kernel"].shape == w.shape
  _assert_same(_value_and_grads(lambda x, w: layer.apply({"params": {"kernel": w}}, x), x, w),
               _value_and_grads(conv_forms.conv_fn(kind, "lax"), x, w))
