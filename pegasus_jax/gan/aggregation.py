"""How a K-discriminator generator combines its per-class losses, sample by sample.

The JointGAN generator sees K per-class losses l_c(x) for every fake image x (one per class
discriminator). How they are combined decides what it learns:

- 'sum' (the write-up's objective): sum_c mean_x l_c(x). When the classes hardly overlap the
  product of the class "real" probabilities is ~0 everywhere, and the cheapest way to lower a
  sum is to satisfy one discriminator fully per sample: the generator learns a *mixture*.
- 'max': K * mean_x max_c l_c(x). The worst-served class of each sample drives its gradient (a
  fuzzy AND): a sample that pleases only the horse discriminator is pushed towards the bird
  one, so samples are pulled into the overlap.
- 'softmax:T' (T > 0): K * mean_x sum_c w_c(x) l_c(x), w(x) = softmax(l(x) / T) over the K
  classes, the weights held constant for the gradient (like max's subgradient). T -> 0 is
  'max'; T -> infinity gives uniform weights 1/K, i.e. 'sum'. T is in the units of the loss
  (nats for the logistic losses): T = 0.5 lets a class whose loss is 1 nat larger weigh e^2
  ~ 7x more.

Every aggregate is K times a weighted mean of each sample's K losses (uniform weights for
'sum', one-hot on the worst class for 'max'), so the three share a scale. Aggregation is per
sample, never per batch: a batch mean of per-class losses would let half the batch serve horses
and the other half birds.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from pegasus_jax.gan import losses

AGGREGATES = ("sum", "max", "softmax:T")
SOFTMAX_PREFIX = "softmax:"


def parse_aggregate(spec: str) -> tuple[str, float]:
  """('sum' | 'max' | 'softmax', temperature); ValueError saying what is wrong otherwise (the
  message reads after the value: "config.g_aggregate='foo' is unknown; ...")."""
  if not isinstance(spec, str):
    raise ValueError("must be 'sum', 'max' or 'softmax:T' (a string)")
  if spec in ("sum", "max"):
    return spec, 0.0
  if spec.startswith(SOFTMAX_PREFIX):
    try:
      temperature = float(spec[len(SOFTMAX_PREFIX):])
    except ValueError:
      raise ValueError("has a temperature that is not a number (e.g. 'softmax:0.5')") from None
    if not (math.isfinite(temperature) and temperature > 0):
      raise ValueError("needs a finite temperature T > 0 (T -> 0 is 'max': use 'max')")
    return "softmax", temperature
  raise ValueError("is unknown; valid: 'sum', 'max', 'softmax:T' with T > 0")


def validate_aggregate(spec: object) -> str | None:
  """A config check: the complaint about `spec`, or None when it is valid."""
  try:
    parse_aggregate(spec)  # type: ignore[arg-type]
  except ValueError as e:
    return str(e)
  return None


def per_sample_generator_losses(kind: str, fake_logits: jax.Array) -> jax.Array:
  """The generator loss `kind` of every single sample: logits (..., N) -> losses (..., N)."""
  # generator_loss reduces the last axis by its mean; over a length-1 axis that is the sample's own.
  return losses.generator_loss(kind, fake_logits[..., None])


def class_weights(per_sample: jax.Array, spec: str) -> jax.Array:
  """The weights (K, N) of each sample's K losses (K, N) under `spec`; columns sum to 1.

  Constant for the gradient: only the losses are differentiated.
  """
  kind, temperature = parse_aggregate(spec)
  per_sample = jax.lax.stop_gradient(per_sample)
  if kind == "sum":
    return jnp.full_like(per_sample, 1.0 / per_sample.shape[0])
  if kind == "max":
    return jax.nn.one_hot(jnp.argmax(per_sample, axis=0), per_sample.shape[0], axis=0,
                          dtype=per_sample.dtype)
  return jax.nn.softmax(per_sample / temperature, axis=0)


def aggregate(per_sample: jax.Array, spec: str) -> jax.Array:
  """The scalar generator objective from per-class per-sample losses (K, N): K times the batch
  mean of each sample's weighted mean loss (`class_weights`)."""
  num_classes = per_sample.shape[0]
  weighted = jnp.sum(class_weights(per_sample, spec) * per_sample, axis=0)
  return num_classes * jnp.mean(weighted)
