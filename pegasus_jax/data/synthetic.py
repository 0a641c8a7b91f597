"""Seeded synthetic data: a 1-D mixture of Gaussians (the toy GAN of write-up 004).

No source to read: the batch for step s is drawn from a generator seeded by (seed, step,
process), so, like every sampler here, it is a pure function of the step and resume is exact.
Config: `data.name='gaussian_mixture'` with `data.mixture_means`, `data.mixture_stds` and
`data.mixture_weights` (tuples of equal length; weights are normalised).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError

NAME = "gaussian_mixture"


class GaussianMixture:
  """A 1-D mixture of Gaussians with exact density and seeded draws."""

  def __init__(self, means: Sequence[float], stds: Sequence[float], weights: Sequence[float]):
    self.means = np.asarray(means, np.float64)
    self.stds = np.asarray(stds, np.float64)
    weights = np.asarray(weights, np.float64)
    if not (len(self.means) == len(self.stds) == len(weights)) or not len(self.means):
      raise ConfigError(
          "config.data.mixture_means, mixture_stds and mixture_weights must be non-empty and of "
          f"equal length; got {len(self.means)}, {len(self.stds)}, {len(weights)}")
    if np.any(self.stds <= 0) or np.any(weights < 0) or weights.sum() <= 0:
      raise ConfigError("config.data.mixture_stds must be > 0 and mixture_weights >= 0 with a "
                        "positive sum")
    self.weights = weights / weights.sum()

  def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
    """float32 (num, 1) draws."""
    component = rng.choice(len(self.means), size=num, p=self.weights)
    return (self.means[component] + self.stds[component] * rng.standard_normal(num)).astype(
        np.float32)[:, None]

  def density(self, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)[..., None]
    z = (x - self.means) / self.stds
    return np.sum(self.weights * np.exp(-0.5 * z * z) / (self.stds * np.sqrt(2 * np.pi)), -1)


class SyntheticSampler:
  """`batch(step)` -> {'x': float32 (local_batch, 1)} drawn from the mixture."""

  name = "synthetic"
  labels = ("all",)

  def __init__(self, mixture: GaussianMixture, *, local_batch: int, seed: int,
               process_index: int = 0):
    self.mixture = mixture
    self.local_batch = local_batch
    self.seed = seed
    self.process_index = process_index

  @property
  def fields(self) -> dict[str, FieldSpec]:
    return {"x": FieldSpec((self.local_batch, 1), "float32")}

  def position(self, step: int) -> dict[str, int]:
    return {"step": step}

  def batch(self, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng((self.seed, step, self.process_index))
    return {"x": self.mixture.sample(rng, self.local_batch)}
