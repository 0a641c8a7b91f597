"""The classifier family: a loss-lowering step, per-step augmentation, the best-checkpoint store
and its config fields. (Training it through the loop, with evaluation and the best checkpoint,
is in tests/test_evaluate.py, whose fixture trains the tiny classifier the CLI needs.)"""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import classifier as classifier_config  # configs/classifier.py
from conftest import apply_overrides, image_info, random_class_images
from pegasus_jax import families
from pegasus_jax.config.validation import validate_config
from pegasus_jax.families.classifier import augment
from pegasus_jax.run import checkpoint

CLASSES = ("horse", "bird", "cat")


def tiny_classifier_config(**overrides):
  """ResNet-8 at width 4 on 8x8 images, 3 classes, 4 images per class a step."""
  config = classifier_config.get_config("cpu")
  config.data.classes = CLASSES
  config.data.image_size = 8
  config.model.depth = 8
  config.model.width = 4
  config.batch_size = 4
  config.total_steps = 4
  config.log_every = 2
  config.eval_every = 2
  config.checkpoint_every = 2
  config.keep_checkpoints = 1
  config.optimizer.warmup_steps = 0
  return apply_overrides(config, **overrides)


def test_step_lowers_the_loss_on_a_fixed_batch():
  config = tiny_classifier_config(optimizer__schedule="constant", optimizer__lr=2.0,
                                  augment__crop_padding=0, augment__flip=False)
  family = families.create(config, image_info(CLASSES))
  state = jax.jit(family.init)(jax.random.PRNGKey(0))
  real = np.stack(random_class_images(3, per_class=4, size=8)).astype(np.float32) / 127.5 - 1
  batch = {"real": jnp.asarray(real)}
  step = jax.jit(family.train_step)
  losses = []
  for _ in range(8):
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  assert metrics["class_accuracy"].shape == (3,)
  assert int(state.step) == 8
  assert losses[-1] < 0.7 * losses[0], losses


def test_augmentation_is_deterministic_per_step_and_crops_the_padded_image():
  images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (6, 8, 8, 3)), jnp.float32)
  key = jax.random.PRNGKey(3)
  step_key = lambda step: jax.random.fold_in(key, step)
  a = augment(step_key(7), images, 4, True)
  assert a.shape == images.shape
  np.testing.assert_array_equal(a, augment(step_key(7), images, 4, True))
  assert not np.array_equal(a, augment(step_key(8), images, 4, True))
  np.testing.assert_array_equal(augment(step_key(7), images, 0, False), images)
  # every output is an 8x8 window of the zero-padded (possibly flipped) input
  padded = np.pad(np.asarray(images), ((0, 0), (4, 4), (4, 4), (0, 0)))
  for i, out in enumerate(np.asarray(augment(step_key(1), images, 4, False))):
    windows = [padded[i, y:y + 8, x:x + 8] for y in range(9) for x in range(9)]
    assert any(np.array_equal(out, w) for w in windows)


def test_best_store_replaces_only_with_a_better_value(tmp_path):
  state = {"w": jnp.zeros(3)}
  best = checkpoint.BestCheckpointStore(str(tmp_path), "eval/loss", "min", asynchronous=False)
  assert best.maybe_save(1, state, {}, {"eval/loss": 2.0})
  assert not best.maybe_save(2, state, {}, {"eval/loss": 3.0})
  assert best.maybe_save(3, state, {}, {"eval/loss": 1.0})
  assert not best.maybe_save(4, state, {}, {"eval/loss": float("nan")})
  best.close()
  assert os.listdir(tmp_path) == ["3"]
  again = checkpoint.BestCheckpointStore(str(tmp_path), "eval/loss", "min", asynchronous=False)
  assert (again.best_step, again.best_value) == (3, 1.0)  # a resumed run knows the bar
  with pytest.raises(KeyError, match="eval/loss"):
    again.maybe_save(5, state, {}, {"eval/accuracy": 1.0})
  again.close()


def test_classifier_configs_validate_and_reject_other_families_fields():
  validate_config(classifier_config.get_config())
  validate_config(classifier_config.get_config("cpu"))
  config = ml_collections.ConfigDict(classifier_config.get_config().to_dict(), type_safe=False)
  config.model.g_width = 4
  with pytest.raises(ValueError, match=r"unknown config field\(s\) \['config.model.g_width'\]"):
    validate_config(config)
  config = ml_collections.ConfigDict(classifier_config.get_config().to_dict(), type_safe=False)
  config.model.depth = 21
  with pytest.raises(ValueError, match=r"config.model.depth=21 must be 6n \+ 2"):
    validate_config(config)
  config = ml_collections.ConfigDict(classifier_config.get_config().to_dict(), type_safe=False)
  config.eval_every = 0
  with pytest.raises(ValueError, match=r"config.best_metric='eval/accuracy' needs"):
    validate_config(config)
