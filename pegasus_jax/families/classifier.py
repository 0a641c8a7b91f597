"""The evaluation classifier as a family: a CIFAR ResNet trained by the same loop and checkpoints.

It consumes the loop's class-major batch unchanged: batch['real'] is (K, B, H, W, C) with class k
in row k, so the label of every image is its row index and every step is class-balanced. The
augmentation (random crop after zero padding, horizontal flip) runs on device inside the jitted
step from `fold_in(rng, step)`, so it is deterministic per step and a resumed run is exact.
It has no generator: the loop writes no sample grids for it. Its evaluation hook measures the
accuracy on a held-out split (`config.eval_split`, e.g. 'train[45000:]'), loaded once.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax.families.base import Metrics
from pegasus_jax.models import resnet

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


def _kernel_mask(params: PyTree) -> PyTree:
  """Weight decay on conv/dense kernels only (not biases or batch-norm scales)."""
  return jax.tree_util.tree_map(lambda p: p.ndim > 1, params)


def learning_rate_schedule(config: ml_collections.ConfigDict, num_classes: int
                           ) -> optax.Schedule:
  """Linear warm-up to lr * global_batch / 128, then cosine decay to 0 (or constant)."""
  opt = config.optimizer
  peak = opt.lr * num_classes * config.batch_size / 128
  warmup = min(opt.warmup_steps, max(config.total_steps - 1, 0))
  if opt.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, config.total_steps)
  if not warmup:
    return optax.constant_schedule(peak)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, warmup), optax.constant_schedule(peak)], [warmup])


class Classifier:
  """Family 'classifier': softmax cross-entropy over the K configured classes."""

  has_generator = False

  def __init__(self, config: ml_collections.ConfigDict, class_labels: tuple[str, ...]):
    if config.n_disc != 1:
      raise ValueError(f"config.n_disc={config.n_disc} must be 1 for family 'classifier'")
    self.class_labels = tuple(class_labels)
    self.num_classes = len(class_labels)
    self.image_shape = (config.model.image_size, config.model.image_size, config.model.channels)
    self.model = resnet.CifarResNet(num_classes=self.num_classes, depth=config.model.depth,
                                    width=config.model.width)
    self.crop_padding = config.augment.crop_padding
    self.flip = config.augment.flip
    self.label_smoothing = config.optimizer.label_smoothing
    self.schedule = learning_rate_schedule(config, self.num_classes)
    opt = config.optimizer
    self.tx = optax.chain(
        optax.add_decayed_weights(opt.weight_decay, mask=_kernel_mask),
        optax.sgd(self.schedule, momentum=opt.momentum, nesterov=opt.nesterov))
    self._apply_jit = jax.jit(self.apply)

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> ClassifierState:
    init_key, train_key = jax.random.split(rng)
    variables = self.model.init(init_key, jnp.zeros((1,) + self.image_shape), train=False)
    params = variables["params"]
    return ClassifierState(step=jnp.zeros((), jnp.int32), rng=train_key, params=params,
                           batch_stats=variables["batch_stats"], opt_state=self.tx.init(params))

  # -- inference ------------------------------------------------------------------------------
  def apply(self, state: ClassifierState, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Logits (N, K) and penultimate features (N, D) of images in [-1, 1], evaluation mode."""
    return self.model.apply({"params": state.params, "batch_stats": state.batch_stats},
                            images, train=False)

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
    state = local_copy(state)
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

  def evaluator(self, config: ml_collections.ConfigDict
                ) -> Callable[[ClassifierState], dict[str, float]]:
    """Held-out accuracy and loss on `config.eval_split` (the images are loaded once, here)."""
    from pegasus_jax import data  # pylint: disable=g-import-not-at-top
    eval_config = ml_collections.ConfigDict(config.to_dict())
    eval_config.data.split = config.eval_split
    held_out = data.load_images(eval_config)  # every process evaluates the whole split
    if tuple(held_out.labels) != self.class_labels:
      raise ValueError(f"held-out labels {held_out.labels} differ from {self.class_labels}")
    images = np.concatenate(held_out.images).astype(np.float32) / 127.5 - 1.0
    labels = np.concatenate([np.full(len(x), k) for k, x in enumerate(held_out.images)])

    def evaluate(state: ClassifierState) -> dict[str, float]:
      logits, _ = self.predict(state, images)
      log_probs = jax.nn.log_softmax(np.asarray(logits, np.float64), axis=-1)
      correct = np.argmax(logits, -1) == labels
      out = {"eval/accuracy": float(np.mean(correct)),
             "eval/loss": float(-np.mean(np.asarray(log_probs)[np.arange(len(labels)), labels])),
             "eval/num_images": float(len(labels))}
      for k, label in enumerate(self.class_labels):
        out[f"eval/accuracy/{label}"] = float(np.mean(correct[labels == k]))
      return out

    return evaluate


def local_copy(tree: PyTree) -> PyTree:
  """A replicated (possibly multi-host) state as single-device arrays for host-side evaluation."""
  def local(x):
    if isinstance(x, jax.Array) and len(x.sharding.device_set) > 1:
      return x.addressable_data(0)
    return x
  return jax.tree_util.tree_map(local, tree)
