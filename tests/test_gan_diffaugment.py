"""DiffAugment: each op against an independent computation, determinism per key, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.gan import diffaugment

KEY = jax.random.PRNGKey(0)
# jitted (the policy is static), as the families will call it: one compile beats many eager ops
augment = jax.jit(diffaugment.diff_augment, static_argnums=2)
IMAGES = jax.random.uniform(jax.random.PRNGKey(1), (3, 8, 8, 3), minval=-1.0, maxval=1.0)


def _shift_with_zero_fill(image, dy, dx):
  """np.roll, then zero the rows and columns that wrapped around."""
  out = np.roll(np.asarray(image), (dy, dx), axis=(0, 1))
  if dy > 0:
    out[:dy] = 0
  elif dy < 0:
    out[dy:] = 0
  if dx > 0:
    out[:, :dx] = 0
  elif dx < 0:
    out[:, dx:] = 0
  return out


def test_empty_policy_is_the_identity():
  assert diffaugment.diff_augment(KEY, IMAGES, "") is IMAGES
  assert diffaugment.diff_augment(KEY, IMAGES, "  ") is IMAGES


def test_ops_keep_shape_and_dtype_for_any_leading_batch_shape():
  stacked = IMAGES.reshape(1, 3, 8, 8, 3)  # (K, B, H, W, C)
  for policy in ("color", "translation", "cutout", "blur", "color,translation,cutout,blur"):
    for images in (IMAGES, stacked, IMAGES.astype(jnp.bfloat16)):
      out = jax.eval_shape(augment, KEY, images, policy)  # traces without compiling
      assert out.shape == images.shape and out.dtype == images.dtype
  policy = "color,translation,cutout"
  np.testing.assert_array_equal(augment(KEY, stacked, policy)[0], augment(KEY, IMAGES, policy))


def test_translate_matches_roll_with_zero_fill():
  shifts = jnp.array([[1, -2], [-3, 0], [0, 8]])  # the last moves everything out: all zero
  out = diffaugment.translate(IMAGES, shifts)
  for n, (dy, dx) in enumerate(shifts.tolist()):
    np.testing.assert_array_equal(out[n], _shift_with_zero_fill(IMAGES[n], dy, dx))
  assert float(jnp.max(jnp.abs(out[2]))) == 0.0


def test_random_translation_is_a_shift_of_at_most_an_eighth():
  ramp = jnp.broadcast_to(jnp.arange(1.0, 17.0)[None, :, None, None] * 100
                          + jnp.arange(1.0, 17.0)[None, None, :, None], (6, 16, 16, 1))
  out = np.asarray(augment(KEY, ramp, "translation"))
  shifts = set()
  for n in range(6):
    inside = out[n, ..., 0][out[n, ..., 0] != 0]
    # out[7, 7] = ramp[7 - dy, 7 - dx], and ramp[i, j] = 100 (i + 1) + (j + 1)
    moved = int(ramp[0, 7, 7, 0] - out[n, 7, 7, 0])
    dy = round(moved / 100)
    dx = moved - 100 * dy
    assert abs(dy) <= 2 and abs(dx) <= 2  # 16 / 8
    np.testing.assert_array_equal(out[n, ..., 0], _shift_with_zero_fill(ramp[0, ..., 0], dy, dx))
    assert inside.size == (16 - abs(dy)) * (16 - abs(dx))
    shifts.add((dy, dx))
  assert len(shifts) > 1  # per-image shifts


def test_cutout_zeros_exactly_a_half_size_square():
  ones = jnp.ones((5, 8, 6, 2))
  out = augment(KEY, ones, "cutout")
  zeroed = np.asarray(out == 0)
  assert zeroed.sum(axis=(1, 2, 3)).tolist() == [4 * 3 * 2] * 5
  for n in range(5):
    rows, cols = np.nonzero(zeroed[n, ..., 0])
    assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 2  # one 4x3 block
  explicit = diffaugment.cutout(ones[:1], jnp.array([[4, 3]]))  # bottom-right corner
  np.testing.assert_array_equal(np.asarray(explicit[0, :, :, 0] == 0),
                                np.pad(np.ones((4, 3), bool), ((4, 0), (3, 0))))


def test_colour_ops_against_formulas():
  x = IMAGES
  np.testing.assert_allclose(diffaugment.brightness(x, jnp.array([0.5, -0.5, 0.0])),
                             x + jnp.array([0.5, -0.5, 0.0])[:, None, None, None], rtol=1e-6)
  grey = diffaugment.saturation(x, jnp.zeros(3))
  np.testing.assert_allclose(grey, jnp.broadcast_to(x.mean(-1, keepdims=True), x.shape), atol=1e-6)
  flat = diffaugment.contrast(x, jnp.zeros(3))
  np.testing.assert_allclose(flat[:, 0, 0, 0], x.mean(axis=(1, 2, 3)), rtol=1e-5)
  np.testing.assert_allclose(diffaugment.contrast(x, jnp.ones(3)), x, atol=1e-6)


def test_colour_is_deterministic_per_key_and_same_key_augments_twin_batches_alike():
  a = augment(KEY, IMAGES, "color")
  np.testing.assert_array_equal(a, augment(KEY, IMAGES, "color"))
  assert not np.allclose(a, augment(jax.random.PRNGKey(5), IMAGES, "color"))
  assert not np.allclose(a, IMAGES)
  policy = "color,translation,cutout"
  twins = jnp.concatenate([IMAGES, IMAGES])[None].reshape(2, 3, 8, 8, 3)
  real, fake = augment(KEY, twins[0], policy), augment(KEY, twins[1], policy)
  np.testing.assert_array_equal(real, fake)


def test_gradient_flows_to_the_images():
  loss = lambda x, policy: jnp.sum(augment(KEY, x, policy) ** 2)
  grad = jax.jit(jax.grad(loss), static_argnums=1)(IMAGES, "color,translation,cutout")
  assert np.all(np.isfinite(grad)) and float(jnp.min(jnp.abs(grad))) > 0  # means reach every pixel
  geometric = jax.jit(jax.grad(loss), static_argnums=1)(IMAGES, "translation,cutout")
  assert np.all(np.isfinite(geometric))
  kept = augment(KEY, IMAGES, "translation,cutout") != 0
  assert int(jnp.sum(geometric != 0)) == int(jnp.sum(kept))  # one source pixel per kept pixel
  assert int(jnp.sum(kept)) < 0.75 * IMAGES.size  # cutout alone removes a quarter


def test_blur_keeps_flat_images_damps_a_checkerboard_and_passes_gradients():
  n, size = 3, 12
  flat = jnp.full((n, size, size, 2), 0.3)
  sigma = jnp.array([0.5, 0.75, 1.0])
  np.testing.assert_allclose(diffaugment.blur(flat, sigma), flat, rtol=1e-6)
  board = jnp.asarray(np.indices((size, size)).sum(0) % 2 * 2.0 - 1.0)[None, :, :, None]
  board = jnp.broadcast_to(board, (n, size, size, 1))
  inner = np.abs(np.asarray(diffaugment.blur(board, sigma))[:, 3:-3, 3:-3])
  # the 1-D 5-tap response at period 2 is 0.575 (sigma 0.5) and 0.023 (sigma 1); squared in 2-D
  np.testing.assert_allclose(inner[0].max(), 0.575 ** 2, rtol=0.02)
  np.testing.assert_allclose(inner[2].max(), 0.023 ** 2, rtol=0.02)
  assert inner[0].max() > inner[1].max() > inner[2].max()  # per-image std
  np.testing.assert_allclose(diffaugment.blur(board, jnp.full((n,), 1e-3)), board, atol=1e-6)
  out = np.asarray(augment(KEY, board, "blur"))
  assert 0.023 ** 2 * 0.9 < np.abs(out[:, 3:-3, 3:-3]).max() < 0.575 ** 2 * 1.1
  grad = jax.grad(lambda x: jnp.sum(diffaugment.blur(x, sigma) ** 2))(IMAGES)
  assert np.all(np.isfinite(grad)) and float(jnp.min(jnp.abs(grad))) > 0


def test_the_blur_range_sets_each_images_std():
  board = jnp.asarray(np.indices((12, 12)).sum(0) % 2 * 2.0 - 1.0)[None, :, :, None]
  board = jnp.broadcast_to(board, (3, 12, 12, 1))
  for std in (0.3, 0.75, 1.0):  # a one-point range: every image gets exactly that std
    np.testing.assert_allclose(
        diffaugment.diff_augment(KEY, board, "blur", blur_sigma=(std, std)),
        diffaugment.blur(board, jnp.full((3,), std)), rtol=1e-5, atol=1e-7)
  narrow = np.abs(np.asarray(diffaugment.diff_augment(KEY, board, "blur", (0.3, 0.6))))
  # 5-tap responses at period 2, squared in 2-D: std 0.6 -> 0.338^2, std 0.3 -> 0.985^2
  assert 0.338 ** 2 < narrow[:, 3:-3, 3:-3].max() < 0.985 ** 2
  assert diffaugment.validate_blur_sigma((0.3, 0.6)) is None
  for bad in ((0.0, 0.5), (0.6, 0.3), (0.5, 1.5), (0.5,), (True, 1.0), "0.3-0.6"):
    assert "0 < low <= high <= 1.0" in diffaugment.validate_blur_sigma(bad)
  with pytest.raises(ValueError, match="blur_sigma must be a pair"):
    diffaugment.diff_augment(KEY, board, "blur", blur_sigma=(1.0, 0.5))


def test_unknown_policy_is_a_complaint_and_an_error():
  assert diffaugment.validate_policy("") is None
  assert diffaugment.validate_policy("color, cutout") is None
  assert "sharpen" in diffaugment.validate_policy("color,sharpen")
  assert "twice" in diffaugment.validate_policy("cutout,cutout")
  assert diffaugment.POLICIES == ("color", "translation", "cutout", "blur")
  with pytest.raises(ValueError, match="unknown DiffAugment op"):
    diffaugment.diff_augment(KEY, IMAGES, "colour")
