"""Class-embedding blending for conditional generators: one image from a mix of classes.

The conditional GAN's generator takes its class through the gains and biases of its conditional
batch norms (`models.sngan_resnet`). Feeding it class *weights* (N, K) instead of labels mixes
those per-class parameters, sum_k w_k gain_k and sum_k w_k bias_k (Miyato & Koyama 2018 morph
categories this way; BigGAN's class hybrids too): `--class=horse:0.5,bird:0.5`. A weight of 1
on one class gives exactly that class's image.

The projection discriminator's class term <embed(y), h> is linear in the embedding, so its
logit for a blend would be the same blend of its per-class logits (not built yet: no scorer here
uses the cGAN's discriminator).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from pegasus_jax.errors import ConfigError

WEIGHT_TOLERANCE = 1e-6  # how far from 1 the weights of a blend may sum


def is_blend(spec: str | None) -> bool:
  """Whether a --class value names a blend ('horse:0.5,bird:0.5') rather than one class."""
  return spec is not None and ":" in spec


def parse_blend(spec: str, labels: Sequence[str]) -> np.ndarray:
  """Class weights (K,) float32 over `labels` from 'horse:0.5,bird:0.5' (labels or indices).

  Weights are >= 0 and sum to 1 (a convex mix: outside it the gains leave what was trained).
  """
  labels = tuple(labels)
  weights = np.zeros(len(labels), np.float64)
  seen = set()
  for part in spec.split(","):
    name, sep, text = part.strip().rpartition(":")
    if not sep or not name:
      raise ConfigError(f"--class={spec!r}: write a blend as CLASS:WEIGHT,CLASS:WEIGHT "
                        "(e.g. horse:0.5,bird:0.5)")
    if name in labels:
      index = labels.index(name)
    elif name.isdigit() and int(name) < len(labels):
      index = int(name)
    else:
      raise ConfigError(f"--class={spec!r}: {name!r} is not one of the run's classes "
                        f"{list(labels)}")
    if index in seen:
      raise ConfigError(f"--class={spec!r}: class {labels[index]!r} is given twice")
    seen.add(index)
    try:
      weight = float(text)
    except ValueError:
      raise ConfigError(f"--class={spec!r}: weight {text!r} of {name!r} is not a "
                        "number") from None
    if not math.isfinite(weight) or weight < 0:
      raise ConfigError(f"--class={spec!r}: weight {text!r} of {name!r} must be a number >= 0")
    weights[index] = weight
  if abs(weights.sum() - 1.0) > WEIGHT_TOLERANCE:
    raise ConfigError(f"--class={spec!r}: the weights sum to {weights.sum():g}; they must sum "
                      "to 1")
  return weights.astype(np.float32)


def pair_weights(num_classes: int, a: int, b: int, w: np.ndarray) -> np.ndarray:
  """Class weights (len(w), K): w on class a, 1 - w on class b."""
  w = np.asarray(w, np.float32)
  weights = np.zeros((len(w), num_classes), np.float32)
  weights[:, a] = w
  weights[:, b] = 1.0 - w
  return weights
