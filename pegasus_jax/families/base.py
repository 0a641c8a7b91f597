"""What the one training loop asks of a family, and the capabilities tools may ask for.

A family owns its networks, losses, optimisers, train state, config fields and pictures; the
loop (`pegasus_jax.train`) owns devices, data, logging, checkpoints and evaluation. Adding a
family means one class with the `Family` shape, registered in `pegasus_jax.families`.

Optional abilities are declared, not probed: a family that draws images from a prior *is* a
`GeneratesFromPrior` (it has `latents` and `generate`), one that draws a requested class is a
`ConditionalGenerator`, one that maps images between two domains `Translates`, and so on.
Tools and evaluators check the one they need with `require(...)`, which says clearly which run
lacks what.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Protocol, runtime_checkable

import jax
import ml_collections
import numpy as np

from pegasus_jax.data.spec import DataInfo, DataSpec
from pegasus_jax.errors import MissingCapabilityError

Metrics = Mapping[str, jax.Array]
Visuals = dict[str, np.ndarray]  # name -> uint8 image (H, W, C), written as PNG + TensorBoard


class Family(Protocol):
  """The contract between a family and `train.train_and_evaluate`.

  Class-level parts (used before any data is read): `name` is what `config.family` says to
  choose it (the registry's key, `families._FAMILIES`), `default_config()` gives the family's
  whole field set with defaults (its `family` field set to `name`), `check_config(config)`
  raises `ConfigError` for its own fields, and `signature_fields` lists the fields a resume must
  not change.
  """

  name: ClassVar[str]
  signature_fields: ClassVar[tuple[str, ...]]

  #: Labels for per-class metric vectors: a metric of shape (K,) is logged as name/label.
  class_labels: tuple[str, ...]
  #: Examples of each data stream one train step consumes (global, all processes together).
  examples_per_step: int

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    """The family's complete field set with defaults (loop and data fields included)."""

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    """ConfigError naming the first bad family-specific field."""

  def data_spec(self) -> DataSpec:
    """The batch fields `train_step` consumes: global shapes, dtypes, batch axes."""

  def init(self, rng: jax.Array) -> Any:
    """Build the whole train state (a pytree) from one PRNG key."""

  def train_step(self, state: Any, batch: Mapping[str, jax.Array]) -> tuple[Any, Metrics]:
    """One pure update (jitted by the loop); per-step randomness from `fold_in(rng, step)`."""

  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]) -> Any:
    """The fixed inputs of every `visuals` call: latents from `rng`, or real examples of `batch`
    (the data of step 0), `num` of them."""

  def visuals(self, state: Any, fixed: Any) -> Visuals:
    """Named uint8 pictures of the state on the fixed inputs (a single-device state)."""


@runtime_checkable
class GeneratesFromPrior(Protocol):
  """Draws images from latent vectors of a prior: sample grids, FID, latent tools."""

  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    """`num` latent vectors (num, z_dim) from the prior."""

  def generate(self, state: Any, latents: jax.Array) -> jax.Array:
    """Images in [-1, 1], (N, H, W, C), with the (EMA) generator in evaluation mode."""


@runtime_checkable
class ConditionalGenerator(Protocol):
  """Draws images of a requested class."""

  class_labels: tuple[str, ...]

  def generate_conditional(self, state: Any, latents: jax.Array, labels: jax.Array
                           ) -> jax.Array:
    """Images in [-1, 1] of class index labels[i] from latents[i]."""


@runtime_checkable
class Encodes(Protocol):
  """Maps images to latent codes (BiGAN's encoder)."""

  def encode(self, state: Any, images: jax.Array) -> jax.Array:
    """Codes (N, z_dim) of images in [-1, 1]."""


@runtime_checkable
class Classifies(Protocol):
  """Class logits and penultimate features of images (the evaluation classifier)."""

  def predict(self, state: Any, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, K) and features (N, D) of host images in [-1, 1]."""

  def apply(self, state: Any, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The same as a pure JAX function of device arrays (jittable, differentiable in images)."""


@runtime_checkable
class ScoresWithDiscriminators(Protocol):
  """Per-class discriminator logits of any images (latent search by the discriminators)."""

  class_labels: tuple[str, ...]

  def discriminator_logits(self, state: Any, images: jax.Array) -> jax.Array:
    """Every class discriminator's logit for every image, evaluation mode: (K, N)."""


@runtime_checkable
class Translates(Protocol):
  """Maps images of one domain to the other (CycleGAN's two generators)."""

  def translate(self, state: Any, images: jax.Array, direction: str) -> jax.Array:
    """Images in [-1, 1] of the other domain; direction 'a_to_b' or 'b_to_a' (static)."""


CAPABILITY_NAMES = {
    GeneratesFromPrior: "generate images from a prior (latents -> images)",
    ConditionalGenerator: "generate images of a requested class",
    Encodes: "encode images to latent codes",
    Classifies: "classify images",
    ScoresWithDiscriminators: "score images with class discriminators",
    Translates: "translate images between two domains",
}


def require(family: Any, capability: type, what: str, family_name: str | None = None) -> None:
  """MissingCapabilityError naming the run's family and what `what` needs from it."""
  if not isinstance(family, capability):
    name = family_name or type(family).__name__
    raise MissingCapabilityError(
        f"{what} needs a run that can {CAPABILITY_NAMES[capability]}; a {name!r} run cannot")
