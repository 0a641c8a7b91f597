"""Guided latent sampling: Langevin steps in z towards latents whose images a guide reads as a
pegasus, for any generator that `GeneratesFromPrior`.

Each latent follows the energy

  E(z) = |z|^2 / 2  -  w_D * reduce_c D_c(G(z))  -  w_c * log( mean_a s(aug_a(G(z))) + eps )

- |z|^2 / 2 is the N(0, I) prior: with both weights 0, Langevin dynamics keep z ~ N(0, I);
- D_c are the run's class discriminator logits (`ScoresWithDiscriminators`), reduced over the
  classes by their mean or min ('min': the class that accepts the image least, a fuzzy AND);
  Che et al. 2020 (DDLS) sample z from p(z) exp(D(G(z))) this way;
- s is the guide's pegasus score (`scoring.classifier_scorer`, K * min_c p(c|x)) averaged over
  `n_aug` random DiffAugment augmentations drawn anew at every step, so that a pixel pattern
  which fools the guide on one view does not pay (FuseDream's AugCLIP does this for CLIP).

One step is z <- z - step_size * grad E(z) + noise * sqrt(2 * step_size) * N(0, I): noise = 1
is (unadjusted) Langevin sampling of exp(-E), noise = 0 plain gradient descent. The sampled
latents then go through the existing top-N selection by the (un-augmented) guide.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax.generation import latent
from pegasus_jax.generation import scoring
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import ScoresWithDiscriminators, require
from pegasus_jax.gan import diffaugment

PyTree = Any
DISC_REDUCTIONS = ("mean", "min")
LOG_EPS = 1e-6  # the guide's score can be exactly 0; log(0) would stop every gradient


@dataclasses.dataclass(frozen=True)
class LangevinOptions:
  """The sampler's knobs (see the module docstring for the energy and the update)."""

  steps: int = 40
  step_size: float = 0.01
  noise: float = 1.0  # 1: Langevin; 0: gradient descent on E
  disc_weight: float = 0.0  # w_D
  guide_weight: float = 1.0  # w_c
  disc_reduce: str = "mean"  # over the class discriminators: 'mean' | 'min'
  n_aug: int = 4  # augmentations the guide's score is averaged over, per step
  augment: str = "color,translation,cutout"  # DiffAugment policy ('' = none)

  def check(self) -> None:
    """ConfigError naming the first bad option."""
    numbers = {"step_size": self.step_size, "noise": self.noise,
               "disc_weight": self.disc_weight, "guide_weight": self.guide_weight}
    if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
      raise ConfigError(f"steps={self.steps!r} must be an integer >= 0")
    for name, value in numbers.items():
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name}={value!r} must be a finite number >= 0")
    if self.step_size <= 0:
      raise ConfigError(f"step_size={self.step_size!r} must be > 0")
    if self.disc_reduce not in DISC_REDUCTIONS:
      raise ConfigError(f"disc_reduce={self.disc_reduce!r} must be one of "
                        f"{list(DISC_REDUCTIONS)}")
    if isinstance(self.n_aug, bool) or not isinstance(self.n_aug, int) or self.n_aug < 1:
      raise ConfigError(f"n_aug={self.n_aug!r} must be a positive integer")
    complaint = diffaugment.validate_policy(self.augment)
    if complaint:
      raise ConfigError(f"augment={self.augment!r} {complaint}")


# (params, images) -> (N,): the parts of the energy, as pure functions of their own params.
ImageFn = Callable[[PyTree, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Energy:
  """E(params, z, key) -> (N,) energies of latents (N, d); `params` travel as jit arguments."""

  fn: Callable[[PyTree, jax.Array, jax.Array], jax.Array]
  params: PyTree


def build_energy(generate: ImageFn, generator_params: PyTree, options: LangevinOptions,
                 guide: scoring.Scorer | None = None,
                 disc_logits: Callable[[PyTree, jax.Array], jax.Array] | None = None,
                 disc_params: PyTree = None) -> Energy:
  """The energy of the module docstring from its parts.

  `generate(generator_params, z)` -> images; `guide.fn(guide.params, images)` -> (N,) scores
  in [0, 1]; `disc_logits(disc_params, images)` -> (K, N). A part with weight 0 is left out.
  """
  options.check()
  if options.guide_weight and guide is None:
    raise ConfigError("guide_weight > 0 needs a guide classifier")
  if options.disc_weight and disc_logits is None:
    raise ConfigError("disc_weight > 0 needs a run with class discriminators")
  reduce = jnp.mean if options.disc_reduce == "mean" else jnp.min

  def fn(params: PyTree, z: jax.Array, key: jax.Array) -> jax.Array:
    energy = 0.5 * jnp.sum(jnp.square(z), axis=-1)
    images = generate(params["generator"], z)
    if options.disc_weight:
      energy -= options.disc_weight * reduce(disc_logits(params["discriminators"], images), 0)
    if options.guide_weight:
      scores = [guide.fn(params["guide"],
                         diffaugment.diff_augment(k, images, options.augment))
                for k in jax.random.split(key, options.n_aug)]
      energy -= options.guide_weight * jnp.log(jnp.mean(jnp.stack(scores), axis=0) + LOG_EPS)
    return energy

  params = {"generator": generator_params,
            "discriminators": disc_params if options.disc_weight else None,
            "guide": guide.params if options.guide_weight else None}
  return Energy(fn=fn, params=params)


def langevin_fn(energy: Energy, options: LangevinOptions
                ) -> Callable[[PyTree, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
  """Jitted (params, z0 (N, d), key) -> (latents after `options.steps` Langevin (or gradient)
  steps, the mean energy before each step and after the last (steps + 1,)): one scan, compiled
  once per batch shape."""
  options.check()
  step_size, noise = options.step_size, options.noise

  def run(params, z0, key):
    total_and_grad = jax.value_and_grad(lambda z, k: jnp.sum(energy.fn(params, z, k)))

    def body(z, i):
      energy_key, noise_key = jax.random.split(jax.random.fold_in(key, i))
      total, grad = total_and_grad(z, energy_key)
      mean_energy = total / z.shape[0]
      z = z - step_size * grad
      z = z + noise * math.sqrt(2.0 * step_size) * jax.random.normal(noise_key, z.shape)
      return z, mean_energy

    z, history = jax.lax.scan(body, z0, jnp.arange(options.steps))
    final = jnp.mean(energy.fn(params, z, jax.random.fold_in(key, options.steps)))
    return z, jnp.concatenate([history, final[None]])

  return jax.jit(run)


def langevin(energy: Energy, z0: jax.Array, key: jax.Array, options: LangevinOptions
             ) -> tuple[jax.Array, jax.Array]:
  """`langevin_fn` applied once to z0 with `energy.params`."""
  return langevin_fn(energy, options)(energy.params, jnp.asarray(z0, jnp.float32), key)


def run_energy(run: Any, guide: scoring.Scorer | None, options: LangevinOptions) -> Energy:
  """The energy for a loaded run (`restore.TrainedRun`): its generator and, with a disc_weight,
  its class discriminators (the run must have them)."""
  family = run.family
  disc_logits = None
  if options.disc_weight:
    require(family, ScoresWithDiscriminators, "guided latent sampling with disc_weight > 0",
            run.config.family)
    disc_logits = family.discriminator_logits
  return build_energy(family.generate, run.state, options, guide, disc_logits, run.state)


@dataclasses.dataclass
class GuidedSample:
  latents: np.ndarray  # (num, d): the kept latents, best by the guide first
  images: np.ndarray  # (num, H, W, C) uint8
  scores: np.ndarray  # (num,) the guide's (un-augmented) score
  details: dict[str, np.ndarray]  # the guide's named parts (p/<class>, pegasus), (num,) each
  start_scores: np.ndarray  # (candidates,) the guide's score of the prior draws
  candidate_scores: np.ndarray  # (candidates,) after the Langevin steps
  energy_history: np.ndarray  # (batches, steps + 1) mean energy of each batch of candidates


def guided_sample(run: Any, guide: scoring.Scorer, num: int, candidates: int,
                  options: LangevinOptions, seed: int = 0, batch_size: int = 256
                  ) -> GuidedSample:
  """Draw `candidates` prior latents (PRNGKey(seed)), move each by `langevin`, keep the `num`
  the guide scores best (the existing top-N selection). Same arguments, same result."""
  if not 1 <= num <= candidates:
    raise ConfigError(f"num={num} must be in 1..candidates={candidates}")
  energy = run_energy(run, guide, options)
  start = latent.seed_latents(run, seed, candidates)
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
  step_fn = langevin_fn(energy, options)
  moved, history = [], []
  for i in range(0, candidates, batch_size):
    z, h = step_fn(energy.params, jnp.asarray(start[i:i + batch_size]),
                   jax.random.fold_in(key, i))
    moved.append(np.asarray(z))
    history.append(np.asarray(h))
  moved = np.concatenate(moved)
  start_scores, _ = latent.score_latents(run, guide, start, batch_size)
  scores, details = latent.score_latents(run, guide, moved, batch_size)
  order = scoring.top_indices(scores, num)
  return GuidedSample(latents=moved[order], images=latent.generate(run, moved[order], batch_size),
                      scores=scores[order], details={k: v[order] for k, v in details.items()},
                      start_scores=start_scores, candidate_scores=scores,
                      energy_history=np.stack(history))
