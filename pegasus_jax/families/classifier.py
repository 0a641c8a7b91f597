"""The evaluation classifier as a family: a CIFAR convnet trained by the same loop and checkpoints.

It consumes the loop's class-major batch unchanged: batch['real'] is (K, B, H, W, C) with class k
in row k, so the label of every image is its row index and every step is class-balanced. The
augmentation (random crop after zero padding, horizontal flip) runs on device inside the jitted
step from `fold_in(rng, step)`, so it is deterministic per step and a resumed run is exact.
It has no generator and no pictures. It `Classifies`: the held-out accuracy evaluator
(`pegasus_jax.evaluation.evaluators`, `config.evals.heldout`, which also fits the calibration
temperature) and the classifier metrics of GAN samples use its `predict`. The network, optimiser and
test-time views are the recipe's choice (`families/classifier_recipe.py`).
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax.config import checks
from pegasus_jax.config.defaults import base_config, flatten_config
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.families.classifier_recipe import (MODELS, TEST_TIME_VIEWS, build_model,
                                                  build_optimizer, predict_with_views)
from pegasus_jax.models import resnet
from pegasus_jax.run import precision, runtime

PyTree = Any
EVAL_BATCH = 500  # images per jitted evaluation call (fixed shape: one compile)


@flax.struct.dataclass
class ClassifierState:
  """Parameters, batch-norm statistics, optimiser state, step and the RNG the steps fold in."""

  step: jax.Array
  rng: jax.Array
  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree


def augment(key: jax.Array, images: jax.Array, crop_padding: int, flip: bool) -> jax.Array:
  """Random crop after zero padding by `crop_padding` pixels, then a random horizontal flip.

  Pure in `key`: the same key gives the same augmented batch (the step folds its own key).
  """
  n, h, w, c = images.shape
  crop_key, flip_key = jax.random.split(key)
  if crop_padding:
    p = crop_padding
    padded = jnp.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    offsets = jax.random.randint(crop_key, (n, 2), 0, 2 * p + 1)
    images = jax.vmap(lambda image, o: jax.lax.dynamic_slice(image, (o[0], o[1], 0), (h, w, c)))(
        padded, offsets)
  if flip:
    mask = jax.random.bernoulli(flip_key, 0.5, (n,))
    images = jnp.where(mask[:, None, None, None], images[:, :, ::-1], images)
  return images


def learning_rate_schedule(config: ml_collections.ConfigDict, num_classes: int
                           ) -> optax.Schedule:
  """Linear warm-up to lr * global_batch / 128, then cosine or linear decay to 0 (or constant)."""
  opt = config.optimizer
  peak = opt.lr * num_classes * config.batch_size / 128
  warmup = min(opt.warmup_steps, max(config.total_steps - 1, 0))
  if opt.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, config.total_steps)
  if opt.schedule == "linear":
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, warmup),
         optax.linear_schedule(peak, 0.0, config.total_steps - warmup)], [warmup])
  if not warmup:
    return optax.constant_schedule(peak)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, warmup), optax.constant_schedule(peak)], [warmup])


def classifier_config() -> ml_collections.ConfigDict:
  """The CIFAR ResNet evaluation classifier's field set: its own model, optimizer, augmentation.

  Class-major data (batch_size = images *per class*, labels = class index); evaluated on a
  held-out split.
  """
  config = base_config()
  config.family = Classifier.name
  config.total_steps = 30_000
  config.batch_size = 16  # per class: 160 images a step for CIFAR-10
  config.data.classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                         "horse", "ship", "truck")
  config.data.split = "train[:45000]"
  config.data.random_flip = False  # the family augments (crop + flip) on device
  config.eval_every = 1_000
  config.evals.heldout = ml_collections.ConfigDict(
      dict(type="accuracy", split="train[45000:]"))
  config.best_metric = "eval/accuracy"
  config.best_mode = "max"

  config.model = ml_collections.ConfigDict()
  config.model.name = "resnet"  # 'resnet' (CIFAR ResNet) | 'fast_cifar' (models/fast_cifar.py)
  config.model.depth = 20  # 6n + 2 (resnet only)
  # First stage's channels; x2, x4 in the next stages (resnet), x4, x4 (fast_cifar).
  config.model.width = 16

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.lr = 0.1  # peak, for 128 images; scaled linearly with the global batch
  config.optimizer.momentum = 0.9
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4  # on conv/dense kernels only
  config.optimizer.schedule = "cosine"  # 'cosine' | 'linear' (decay to 0) | 'constant'
  config.optimizer.warmup_steps = 200
  config.optimizer.label_smoothing = 0.0
  config.optimizer.bias_lr_scale = 1.0  # learning-rate multiplier for 1-D parameters (BN biases)
  config.augment = ml_collections.ConfigDict()
  config.augment.crop_padding = 4  # random crop after zero padding (0 = off)
  config.augment.flip = True
  # Test-time views averaged in every prediction (evaluation, scores, features): 'none', 'flip'
  # (with the mirrored image) or 'flip_shift' (also 1-px shifted copies: 6 views).
  config.augment.tta = "none"
  return config


def _resnet_depth(value: Any) -> str | None:
  if checks.positive_int(value):
    return checks.positive_int(value)
  try:
    resnet.blocks_per_stage(value)
  except ValueError:
    return "must be 6n + 2 (8, 14, 20, 32, 56, ...) for the CIFAR ResNet"
  return None


FIELD_CHECKS: dict[str, checks.Check] = {
    "model.name": checks.one_of(*MODELS),
    "model.depth": _resnet_depth,
    "model.width": checks.positive_int,
    "optimizer.lr": checks.positive_float,
    "optimizer.momentum": checks.unit_interval,
    "optimizer.nesterov": checks.boolean,
    "optimizer.weight_decay": checks.non_negative_float,
    "optimizer.schedule": checks.one_of("cosine", "linear", "constant"),
    "optimizer.warmup_steps": checks.non_negative_int,
    "optimizer.label_smoothing": checks.unit_interval,
    "optimizer.bias_lr_scale": checks.positive_float,
    "augment.crop_padding": checks.non_negative_int,
    "augment.flip": checks.boolean,
    "augment.tta": checks.one_of(*TEST_TIME_VIEWS),
}


class Classifier:
  """Family 'classifier': softmax cross-entropy over the K configured classes."""

  name = "classifier"
  signature_fields = ("data.name", "data.classes", "data.image_size", "data.channels", "model")
  default_config = staticmethod(classifier_config)

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    checks.run_checks(flatten_config(config), FIELD_CHECKS)
    if config.data.sampler != "class_balanced":
      raise ConfigError(f"config.data.sampler={config.data.sampler!r}: the classifier learns "
                        "from class-balanced batches (the class is the row); use "
                        "'class_balanced'")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    self.class_labels = tuple(info.labels)
    self.num_classes = len(self.class_labels)
    self.image_shape = tuple(info.example_shapes["image"])
    self.examples_per_step = config.batch_size
    self.model = build_model(config.model, self.num_classes,
                             dtype=precision.compute_dtype(config))
    self.tta = config.augment.get("tta", "none")  # absent in checkpoints from before it
    self.crop_padding = config.augment.crop_padding
    self.flip = config.augment.flip
    self.label_smoothing = config.optimizer.label_smoothing
    self.schedule = learning_rate_schedule(config, self.num_classes)
    self.tx = build_optimizer(config.optimizer, self.schedule)
    self._apply_jit = jax.jit(self.apply)

  def data_spec(self) -> dict[str, FieldSpec]:
    return {"real": FieldSpec((self.num_classes, self.examples_per_step) + self.image_shape,
                              "float32", batch_axis=1)}

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> ClassifierState:
    init_key, train_key = jax.random.split(rng)
    variables = self.model.init(init_key, jnp.zeros((1,) + self.image_shape), train=False)
    params = variables["params"]
    return ClassifierState(step=jnp.zeros((), jnp.int32), rng=train_key, params=params,
                           batch_stats=variables["batch_stats"], opt_state=self.tx.init(params))

  # -- inference ------------------------------------------------------------------------------
  def apply(self, state: ClassifierState, images: jax.Array,
            tta: str | None = None) -> tuple[jax.Array, jax.Array]:
    """Logits (N, K) and penultimate features (N, D) of images in [-1, 1], evaluation mode,
    averaged over the test-time views of `tta` (default: `config.augment.tta`, else one view)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return predict_with_views(
        lambda x: self.model.apply(variables, x, train=False), images,
        self.tta if tta is None else tta)

  # -- training -------------------------------------------------------------------------------
  def train_step(self, state: ClassifierState, batch: dict[str, jax.Array]
                 ) -> tuple[ClassifierState, Metrics]:
    """One SGD step on the class-major batch: labels are the row (class) indices."""
    real = batch["real"]
    k, b = real.shape[:2]
    images = real.reshape((k * b,) + real.shape[2:])
    labels = jnp.repeat(jnp.arange(k), b)
    key = jax.random.fold_in(state.rng, state.step)
    images = augment(key, images, self.crop_padding, self.flip)
    targets = jax.nn.one_hot(labels, self.num_classes)
    if self.label_smoothing:
      targets = optax.smooth_labels(targets, self.label_smoothing)

    def loss_fn(params):
      (logits, _), new_vars = self.model.apply(
          {"params": params, "batch_stats": state.batch_stats}, images, train=True,
          mutable=["batch_stats"])
      loss = jnp.mean(optax.softmax_cross_entropy(logits, targets))
      return loss, (logits, new_vars["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    metrics = {
        "loss": loss,
        "accuracy": jnp.mean(correct),
        "class_accuracy": jnp.mean(correct.reshape(k, b), axis=1),
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": self.schedule(state.step),
    }
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                              opt_state=opt_state)
    return new_state, metrics

  # -- evaluation -----------------------------------------------------------------------------
  def predict(self, state: ClassifierState, images: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Logits and features of host images in [-1, 1], EVAL_BATCH at a time (one compile)."""
    apply = self._apply_jit
    state = runtime.local_copy(state)
    logits, features = [], []
    for start in range(0, len(images), EVAL_BATCH):
      chunk = np.asarray(images[start:start + EVAL_BATCH], np.float32)
      valid = len(chunk)
      if valid < EVAL_BATCH and len(images) > EVAL_BATCH:  # pad the last one: same shape
        chunk = np.concatenate([chunk, np.zeros((EVAL_BATCH - valid,) + chunk.shape[1:],
                                                np.float32)])
      out_logits, out_features = apply(state, chunk)
      logits.append(out_logits[:valid])
      features.append(out_features[:valid])
    logits, features = jax.device_get((logits, features))
    return np.concatenate(logits), np.concatenate(features)

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]) -> None:
    return None

  def visuals(self, state: ClassifierState, fixed: None) -> Visuals:
    """None: a classifier's progress is its accuracy (the 'accuracy' evaluator), not a picture."""
    return {}
