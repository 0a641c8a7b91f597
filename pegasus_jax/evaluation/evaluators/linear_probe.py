"""Linear probe on a frozen encoder (type 'linear_probe'): how much of the label E(x) keeps.

A softmax-regression classifier (one weight matrix and bias on the codes, cross-entropy, full-
batch Adam for a fixed number of steps, jitted) is trained on E(x) of the labelled training
split and scored on the test split. The same probe on a randomly initialised encoder of the same
architecture (`family.init` from a fixed seed) is the baseline: the write-up 004 measured 0.88
(BiGAN) against 0.79 (random). Scalars: eval/probe_accuracy, eval/probe_accuracy_random_encoder
(computed once, when the evaluator is built), eval/probe_train_accuracy.

Codes are standardised with the training codes' mean and standard deviation before the probe: an
affine map, so the classifier is still linear in E(x), and one learning rate suits any encoder's
scale (a random encoder's codes and a trained one's differ by orders of magnitude).

Labelled data comes through `pegasus_jax.data.load_images` with the run's data settings, the
split and classes overridden (as evaluators/accuracy.py does); every process reads it whole.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax import data
from pegasus_jax.config import checks
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import Encodes, require

ENCODE_BATCH = 1_000  # images per jitted encoder call (fixed shape: one compile)

NAME = "linear_probe"  # config.evals.<entry>.type
OPTIONS = {
    "train_split": "train",
    "test_split": "test",
    "num_train": 0,  # the first N images of train_split (0 = all of it)
    "num_test": 0,  # the first N images of test_split (0 = all of it)
    "classes": tuple(range(10)),  # the labels the probe predicts (names or ids of data.name)
    "steps": 500,  # full-batch Adam steps (converged on MNIST codes by 300)
    "learning_rate": 0.05,
    "random_encoder_seed": 0,
}


def _classes(value: Any) -> str | None:
  if not isinstance(value, (tuple, list)) or len(value) < 2:
    return "must be a tuple of at least 2 class names or ids, e.g. (0, 1, ..., 9)"
  return None


CHECKS = {
    "train_split": checks.non_empty_str,
    "test_split": checks.non_empty_str,
    "num_train": checks.non_negative_int,
    "num_test": checks.non_negative_int,
    "classes": _classes,
    "steps": checks.positive_int,
    "learning_rate": checks.positive_float,
    "random_encoder_seed": checks.seed,
}


class LinearProbe(NamedTuple):
  """Softmax regression on standardised codes: logits = ((codes - mean) / std) @ w + b."""

  mean: jax.Array
  std: jax.Array
  weights: jax.Array
  bias: jax.Array

  def logits(self, codes: jax.Array) -> jax.Array:
    return ((codes - self.mean) / self.std) @ self.weights + self.bias


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def fit_linear_probe(codes: jax.Array, labels: jax.Array, num_classes: int, steps: int,
                     learning_rate: float) -> LinearProbe:
  """Minimise the mean cross-entropy of a linear classifier by full-batch Adam from zeros.

  Deterministic (zero start, full batch): the same codes give the same probe. The problem is
  convex, so a fixed number of steps stands in for convergence.
  """
  codes = codes.astype(jnp.float32)
  mean = jnp.mean(codes, axis=0)
  std = jnp.std(codes, axis=0) + 1e-6
  x = (codes - mean) / std
  one_hot = jax.nn.one_hot(labels, num_classes)
  params = (jnp.zeros((codes.shape[1], num_classes)), jnp.zeros((num_classes,)))
  tx = optax.adam(learning_rate)

  def loss_fn(params):
    w, b = params
    return -jnp.mean(jnp.sum(one_hot * jax.nn.log_softmax(x @ w + b), axis=-1))

  def step(carry, _):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
  return LinearProbe(mean, std, *params)


def probe_accuracy(probe: LinearProbe, codes: np.ndarray, labels: np.ndarray) -> float:
  """Share of codes whose argmax logit is their label."""
  predicted = np.argmax(np.asarray(probe.logits(jnp.asarray(codes, jnp.float32))), axis=-1)
  return float(np.mean(predicted == labels))


def encode_all(encode: Callable[[Any, jax.Array], jax.Array], state: Any, images: np.ndarray
               ) -> np.ndarray:
  """Codes of host images, ENCODE_BATCH at a time (the last chunk padded: one compile)."""
  codes = []
  batch = min(ENCODE_BATCH, len(images))
  for start in range(0, len(images), batch):
    chunk = images[start:start + batch]
    valid = len(chunk)
    if valid < batch:
      chunk = np.concatenate([chunk, np.zeros((batch - valid,) + chunk.shape[1:], chunk.dtype)])
    codes.append(np.asarray(encode(state, jnp.asarray(chunk)))[:valid])
  return np.concatenate(codes)


def _split(split: str, num: int, option: str) -> str:
  """`split`, or its first `num` images as a TFDS slice ('train[:10000]')."""
  if not num:
    return split
  if "[" in split:
    raise ConfigError(f"config.evals.{option}: give either a sliced split or a count, not both "
                      f"({split!r} with a count of {num})")
  return f"{split}[:{num}]"


def load_labelled(config: ml_collections.ConfigDict, split: str, classes: tuple
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Images in [-1, 1] (float32) and class indices of `split`, with the run's data settings."""
  eval_config = ml_collections.ConfigDict(config.to_dict())
  eval_config.data.split = split
  eval_config.data.classes = tuple(classes)
  loaded = data.load_images(eval_config)  # every process reads the whole split
  images = np.concatenate(loaded.images).astype(np.float32) / 127.5 - 1.0
  labels = np.concatenate([np.full(len(x), k, np.int32) for k, x in enumerate(loaded.images)])
  return images, labels


def create(config: ml_collections.ConfigDict, options: dict[str, Any], family: Any,
           info: DataInfo) -> Callable[[Any], dict[str, float]]:
  require(family, Encodes, "the 'linear_probe' evaluation", config.family)
  classes = tuple(options["classes"])
  train_images, train_labels = load_labelled(
      config, _split(options["train_split"], options["num_train"], "linear_probe.num_train"),
      classes)
  test_images, test_labels = load_labelled(
      config, _split(options["test_split"], options["num_test"], "linear_probe.num_test"),
      classes)
  encode = jax.jit(family.encode)
  fit = functools.partial(fit_linear_probe, num_classes=len(classes), steps=options["steps"],
                          learning_rate=options["learning_rate"])

  def accuracies(state: Any) -> tuple[float, float]:
    train_codes = encode_all(encode, state, train_images)
    probe = fit(jnp.asarray(train_codes), jnp.asarray(train_labels))
    return (probe_accuracy(probe, encode_all(encode, state, test_images), test_labels),
            probe_accuracy(probe, train_codes, train_labels))

  random_state = jax.jit(family.init)(jax.random.PRNGKey(options["random_encoder_seed"]))
  random_accuracy, _ = accuracies(random_state)  # fixed: computed once
  del random_state

  def evaluate(state: Any) -> dict[str, float]:
    test_accuracy, train_accuracy = accuracies(state)
    return {"eval/probe_accuracy": test_accuracy,
            "eval/probe_accuracy_random_encoder": random_accuracy,
            "eval/probe_train_accuracy": train_accuracy}

  return evaluate
