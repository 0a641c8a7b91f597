"""The fast evaluator net (models/fast_cifar.py) and the recipe parts the classifier family uses
(families/classifier_recipe.py): whitening, identity init, the matmul kernel gradient, the
optimiser's bias scale, test-time views, the linear schedule and the `:fast` config."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import classifier as classifier_config  # configs/classifier.py
from conftest import apply_overrides, image_info, random_class_images
from pegasus_jax import families
from pegasus_jax.config.validation import validate_config
from pegasus_jax.families import classifier_recipe
from pegasus_jax.families.classifier import learning_rate_schedule
from pegasus_jax.models import fast_cifar

CLASSES = ("horse", "bird", "cat")


def _correlated_images(n=64, size=8, seed=0):
  """Smooth, channel-correlated images: far from white, so whitening has work to do."""
  rng = np.random.default_rng(seed)
  base = rng.normal(size=(n, size + 1, size + 1, 1))
  smooth = (base[:, 1:, 1:] + base[:, :-1, :-1] + base[:, 1:, :-1]) / 3
  colour = np.array([1.0, 0.8, 0.6]) + 0.1 * rng.normal(size=(n, size, size, 3))
  return jnp.asarray(smooth * colour, jnp.float32)


def _whitened(images, kernel):
  return jax.lax.conv_general_dilated(images, kernel, (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _covariance(out):
  return np.cov(np.asarray(out[..., :out.shape[-1] // 2]).reshape(-1, out.shape[-1] // 2),
                rowvar=False)


def test_whitening_kernel_whitens_the_patches():
  images = _correlated_images()
  kernel = fast_cifar.whitening_kernel(images, 2, eps=1e-8)
  assert kernel.shape == (2, 2, 3, 24)
  out = _whitened(images, kernel)
  np.testing.assert_allclose(_covariance(out), np.eye(12), atol=0.02)
  np.testing.assert_allclose(out[..., 12:], -out[..., :12], rtol=1e-6)


def test_dirac_init_passes_the_input_through_its_first_channels():
  kernel = fast_cifar.dirac_init(jax.random.PRNGKey(0), (3, 3, 4, 6))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5, 4))
  y = fast_cifar._conv_same(x, kernel)
  np.testing.assert_allclose(y[..., :4], x, atol=1e-6)


def test_matmul_kernel_gradient_equals_xla():
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 7, 5))
  kernel = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 5, 6))
  ours = jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.sin(fast_cifar.conv_matmul_grad(x, k))),
                         (0, 1)))
  xla = jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.sin(fast_cifar._conv_same(x, k))), (0, 1)))
  for a, b in zip(ours(x, kernel), xla(x, kernel)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_whitening_is_filled_by_the_first_training_batch_only():
  model = fast_cifar.FastCifarNet(num_classes=3, widths=(4, 8, 8))
  first, second = _correlated_images(size=16, seed=0), _correlated_images(size=16, seed=1)
  variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False))(first[:1])
  assert float(variables["batch_stats"]["whiten_ready"]) == 0.0
  train_apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
  (logits, features), updated = train_apply(variables, first)
  assert logits.shape == (64, 3) and features.shape == (64, 8)
  stats = updated["batch_stats"]
  # Whitening with the default eps: unit variance up to eps on the smallest directions.
  covariance = _covariance(_whitened(first, stats["whiten_kernel"]))
  np.testing.assert_allclose(covariance, np.eye(12), atol=0.15)
  _, again = train_apply({"params": variables["params"], "batch_stats": stats}, second)
  np.testing.assert_array_equal(again["batch_stats"]["whiten_kernel"], stats["whiten_kernel"])


def test_bias_lr_scale_multiplies_only_vector_updates():
  config = classifier_config.get_config("fast").optimizer
  config.weight_decay = 0.0
  params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
  grads = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
  updates = {}
  for scale in (1.0, 64.0):
    config.bias_lr_scale = scale
    tx = classifier_recipe.build_optimizer(config, optax.constant_schedule(0.1))
    updates[scale], _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates[64.0]["kernel"], updates[1.0]["kernel"])
  np.testing.assert_allclose(updates[64.0]["bias"], 64 * updates[1.0]["bias"], rtol=1e-6)


@pytest.mark.parametrize("mode,count", [("none", 1), ("flip", 2), ("flip_shift", 6)])
def test_test_time_views_weights_sum_to_one(mode, count):
  images = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  views = classifier_recipe.test_time_views(images, mode)
  assert len(views) == count
  assert sum(w for w, _ in views) == pytest.approx(1.0)
  assert all(v.shape == images.shape for _, v in views)


def test_flip_views_make_predictions_mirror_invariant():
  images = jax.random.normal(jax.random.PRNGKey(0), (3, 6, 6, 3))
  apply = lambda x: (jnp.sum(x[:, :, :3], axis=(1, 2)), jnp.sum(x[:, :, :2], axis=(1, 2)))
  a = classifier_recipe.predict_with_views(apply, images, "flip")
  b = classifier_recipe.predict_with_views(apply, images[:, :, ::-1], "flip")
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_shifted_views_are_one_pixel_translations():
  images = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 3))
  views = classifier_recipe.test_time_views(images, "flip_shift")
  down_right, up_left = views[2][1], views[4][1]
  np.testing.assert_array_equal(down_right[:, 1:, 1:], images[:, :-1, :-1])
  np.testing.assert_array_equal(up_left[:, :-1, :-1], images[:, 1:, 1:])


def test_fast_config_validates_and_trains_a_step():
  config = classifier_config.get_config("fast")
  validate_config(config)
  config = apply_overrides(config, data__classes=CLASSES, batch_size=4, model__width=4,
                           data__image_size=16, optimizer__warmup_steps=0,
                           optimizer__schedule="constant", optimizer__lr=20.0,
                           optimizer__label_smoothing=0.0, augment__crop_padding=0,
                           augment__flip=False)
  family = families.create(config, image_info(CLASSES, size=16))
  state = jax.jit(family.init)(jax.random.PRNGKey(0))
  real = np.stack(random_class_images(3, per_class=4, size=16)).astype(np.float32) / 127.5 - 1
  step = jax.jit(family.train_step)
  losses = []
  for _ in range(6):
    state, metrics = step(state, {"real": jnp.asarray(real)})
    losses.append(float(metrics["loss"]))
  assert float(state.batch_stats["whiten_ready"]) == 1.0
  assert losses[-1] < losses[0], losses
  logits, features = family.predict(state, real.reshape(-1, 16, 16, 3))
  assert logits.shape == (12, 3) and features.shape == (12, 16)


def test_linear_schedule_warms_up_then_decays_to_zero():
  config = classifier_config.get_config("fast")
  config.total_steps, config.optimizer.warmup_steps, config.batch_size = 10, 4, 128
  schedule = learning_rate_schedule(config, num_classes=1)  # 128 images a step: peak = lr
  peak = config.optimizer.lr
  values = [float(schedule(step)) for step in range(11)]
  np.testing.assert_allclose(values[:5], [0, peak / 4, peak / 2, 3 * peak / 4, peak], rtol=1e-6)
  np.testing.assert_allclose(values[4:], np.linspace(peak, 0, 7), rtol=1e-6, atol=1e-7)


def test_unknown_model_or_tta_names_are_config_errors():
  for field, value in (("model.name", "vgg"), ("augment.tta", "rotate")):
    config = classifier_config.get_config("fast")
    parent, leaf = field.split(".")
    config[parent][leaf] = value
    with pytest.raises(ValueError, match=rf"config.{field}='{value}' must be one of"):
      validate_config(config)
