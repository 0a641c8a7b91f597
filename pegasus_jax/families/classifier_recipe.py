"""The parts of the evaluation classifier that a recipe picks: network, optimiser, test-time views.

Kept apart from `families/classifier.py` (the loop-facing state, step and prediction) so that a
recipe -- such as `configs/classifier.py:fast`, a small whitened convnet trained with a scaled
bias learning rate and evaluated on mirrored views -- changes these functions only.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import linen as nn

from pegasus_jax.errors import ConfigError
from pegasus_jax.models import fast_cifar, resnet

PyTree = Any
Outputs = tuple[jax.Array, jax.Array]  # (logits, features)
MODELS = ("resnet", "fast_cifar")
TEST_TIME_VIEWS = ("none", "flip", "flip_shift")
# fast_cifar's group widths as multiples of model.width (airbench's 64-256-256 at width 64).
FAST_CIFAR_MULTIPLIERS = (1, 4, 4)


def build_model(model_config: ml_collections.ConfigDict, num_classes: int,
                dtype: Any = jnp.float32) -> nn.Module:
  """The network named by `model.name` ('resnet' when absent: checkpoints from before it),
  computing in `dtype` (config.precision; fast_cifar has no bfloat16 path and refuses it)."""
  name = model_config.get("name", "resnet")
  if name == "resnet":
    return resnet.CifarResNet(num_classes=num_classes, depth=model_config.depth,
                              width=model_config.width, dtype=dtype)
  if name == "fast_cifar":
    if jnp.dtype(dtype) != jnp.float32:
      raise ConfigError(f"config.precision={jnp.dtype(dtype).name!r} is not supported by "
                        "config.model.name='fast_cifar'; use 'float32'")
    widths = tuple(model_config.width * m for m in FAST_CIFAR_MULTIPLIERS)
    return fast_cifar.FastCifarNet(num_classes=num_classes, widths=widths)
  raise ValueError(f"config.model.name={name!r}: valid are {list(MODELS)}")


def _kernel_mask(params: PyTree) -> PyTree:
  """Conv/dense kernels: weight decay applies to them, not to biases or batch-norm offsets."""
  return jax.tree_util.tree_map(lambda p: p.ndim > 1, params)


def _vector_mask(params: PyTree) -> PyTree:
  return jax.tree_util.tree_map(lambda p: p.ndim <= 1, params)


def build_optimizer(opt_config: ml_collections.ConfigDict, schedule: optax.Schedule
                    ) -> optax.GradientTransformation:
  """SGD (Nesterov) with weight decay on kernels; 1-D parameters' steps x `bias_lr_scale`.

  Why the scale: a batch-norm offset without a learnt scale moves in normalised units, and a
  much larger step for it (64x in airbench) speeds up early training at no cost elsewhere.
  """
  tx = optax.chain(
      optax.add_decayed_weights(opt_config.weight_decay, mask=_kernel_mask),
      optax.sgd(schedule, momentum=opt_config.momentum, nesterov=opt_config.nesterov))
  scale = opt_config.get("bias_lr_scale", 1.0)
  if scale != 1.0:
    tx = optax.chain(tx, optax.masked(optax.scale(scale), _vector_mask))
  return tx


def _shift(images: jax.Array, dy: int, dx: int) -> jax.Array:
  """Translate by (dy, dx) pixels (|dy|, |dx| <= 1) with reflected borders; same shape."""
  _, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  return padded[:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def test_time_views(images: jax.Array, mode: str) -> list[tuple[float, jax.Array]]:
  """(weight, view) pairs whose weighted outputs average to the prediction.

  'flip': the image and its mirror, 1/2 each; 'flip_shift': those at 1/4 each, plus the mirror
  pairs of the image shifted one pixel down-right and up-left, 1/8 each (as airbench's TTA).
  """
  mirror = lambda x: x[:, :, ::-1]
  if mode == "none":
    return [(1.0, images)]
  if mode == "flip":
    return [(0.5, images), (0.5, mirror(images))]
  if mode == "flip_shift":
    views = [(0.25, images), (0.25, mirror(images))]
    for dy, dx in ((1, 1), (-1, -1)):
      shifted = _shift(images, dy, dx)
      views += [(0.125, shifted), (0.125, mirror(shifted))]
    return views
  raise ValueError(f"config.augment.tta={mode!r}: valid are {list(TEST_TIME_VIEWS)}")


def predict_with_views(apply: Callable[[jax.Array], Outputs], images: jax.Array, mode: str
                       ) -> Outputs:
  """Logits and features averaged over the test-time views of `images` (one pass per view)."""
  views = test_time_views(images, mode)
  if len(views) == 1:
    return apply(images)
  logits = features = 0.0
  for weight, view in views:
    view_logits, view_features = apply(view)
    logits = logits + weight * view_logits
    features = features + weight * view_features
  return logits, features
