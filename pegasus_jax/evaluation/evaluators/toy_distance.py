"""How far a 1-D generator is from its mixture of Gaussians (type 'toy_distance').

Options: `num_samples` generated points (from fixed latents of the run's 'eval' RNG stream) and
as many real points (one seeded draw of the mixture, made once); `radius_stds` and `min_share`
define mode coverage. Scalars:

- eval/wasserstein1: the 1-D Wasserstein-1 (earth mover's) distance between the generated and
  the real points, in the data's units: the area between their empirical CDFs
  (`scipy.stats.wasserstein_distance`). Zero only when the samples coincide;
- eval/wasserstein1_real_vs_real: the same distance between two independent real draws of
  `num_samples`, the floor that sampling noise alone gives (constant for a run);
- eval/mode_share/mode<k>: the share of generated points within `radius_stds` standard
  deviations of mode k's mean (a point near two overlapping modes counts for both);
- eval/mode_coverage: the share of the mixture's modes whose mode_share is at least
  `min_share` (1.0: every mode receives >= min_share of the samples; a generator that dropped
  a mode of a two-mode mixture scores 0.5).

The family must draw scalars from latents: `latents(rng, num)` and `sample_points(state,
latents) -> (N, 1)` (the `SamplesPoints` protocol below; 'toy1d' has them). It is not
`GeneratesFromPrior`, whose samples are images that the image tools would try to draw.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import jax
import ml_collections
import numpy as np
import scipy.stats

from pegasus_jax.config import checks
from pegasus_jax.data import synthetic
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError, MissingCapabilityError
from pegasus_jax.run import runtime

NAME = "toy_distance"  # config.evals.<entry>.type
OPTIONS = {"num_samples": 10_000, "radius_stds": 2.0, "min_share": 0.1}


def _share(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
    return "must be a number in (0, 1]"
  return None


CHECKS = {"num_samples": checks.positive_int, "radius_stds": checks.positive_float,
          "min_share": _share}


@runtime_checkable
class SamplesPoints(Protocol):
  """Draws 1-D points from latents of a prior (the toy GAN)."""

  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    """`num` latent vectors from the prior."""

  def sample_points(self, state: Any, latents: jax.Array) -> jax.Array:
    """Generated points (N, 1) for the latents."""


def wasserstein1(points: np.ndarray, reference: np.ndarray) -> float:
  """W1 between two 1-D samples: the integral of |F_points(x) - F_reference(x)| dx."""
  return float(scipy.stats.wasserstein_distance(np.ravel(points), np.ravel(reference)))


def mode_shares(points: np.ndarray, means: Sequence[float], stds: Sequence[float],
                radius_stds: float) -> np.ndarray:
  """(K,) share of `points` within radius_stds * std_k of mean_k, for each mode k."""
  points = np.ravel(points)[:, None]
  near = np.abs(points - np.asarray(means)) <= radius_stds * np.asarray(stds)
  return near.mean(axis=0)


def mode_coverage(shares: np.ndarray, min_share: float) -> float:
  """The share of modes receiving at least `min_share` of the points."""
  return float(np.mean(np.asarray(shares) >= min_share))


def create(config: ml_collections.ConfigDict, options: dict[str, Any], family: Any,
           info: DataInfo) -> Callable[[Any], dict[str, float]]:
  if not isinstance(family, SamplesPoints):
    raise MissingCapabilityError(
        f"the 'toy_distance' evaluation needs a run that draws 1-D points from latents "
        f"(latents, sample_points); a {config.family!r} run cannot")
  data = config.data
  if data.name != synthetic.NAME:
    raise ConfigError(f"the 'toy_distance' evaluation compares with a mixture of Gaussians: "
                      f"it needs config.data.name={synthetic.NAME!r}, not {data.name!r}")
  mixture = synthetic.GaussianMixture(data.mixture_means, data.mixture_stds,
                                      data.mixture_weights)
  num = options["num_samples"]
  # Real points from their own seeded stream (spawn keys keep it apart from the training
  # batches, which are seeded by (seed, step, process)): two draws, the reference and the floor.
  reference_rng, floor_rng = (
      np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(
          runtime.RNG_STREAMS["eval"], index))) for index in range(2))
  reference = mixture.sample(reference_rng, num)
  real_vs_real = wasserstein1(mixture.sample(floor_rng, num), reference)
  latents = family.latents(runtime.stream_key(config.seed, "eval"), num)
  sample = jax.jit(family.sample_points)

  def evaluate(state: Any) -> dict[str, float]:
    points = np.asarray(sample(state, latents), np.float64)
    shares = mode_shares(points, mixture.means, mixture.stds, options["radius_stds"])
    out = {"eval/wasserstein1": wasserstein1(points, reference),
           "eval/wasserstein1_real_vs_real": real_vs_real,
           "eval/mode_coverage": mode_coverage(shares, options["min_share"])}
    out.update({f"eval/mode_share/mode{k}": float(s) for k, s in enumerate(shares)})
    return out

  return evaluate
