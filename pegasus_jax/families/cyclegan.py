"""CycleGAN: unpaired translation between two image domains (Zhu et al. 2017).

Two generators, G_ab: A -> B and G_ba: B -> A, and two discriminators, D_a and D_b, each judging
its own domain. The generators minimise the least-squares adversarial loss of both directions,
(D_b(G_ab(a)) - 1)^2 + (D_a(G_ba(b)) - 1)^2, plus `cycle_weight` (lambda = 10) times the
cycle-consistency loss |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b| (L1, per pixel), plus the
optional identity loss `identity_weight` * (|G_ab(b) - b| + |G_ba(a) - a|) (the paper's 0.5 *
lambda keeps the colours of photos; it needs both domains to have the same channels). The
discriminators minimise 0.5 * ((D(real) - 1)^2 + D(fake)^2) on the fakes of the same step's
generator pass (no history pool). Adam (2e-4, 0.5, 0.999) for both pairs.

Why the cycle: with unpaired data the adversarial loss alone only asks G_ab(a) to look like
*some* image of B; the cycle asks that G_ba can bring it back, so G_ab must keep what identifies
a -- for digits, the digit (measured by the 'label_preservation' evaluation).

When one direction loses information (coloured -> grey drops the colours), the other cycle
cannot be met honestly, and generators tend to meet it by steganography (Chu et al. 2017): G_ba
hides the colours in faint patterns of its grey digit and G_ab learns to decode them, and a real
grey digit (which hides nothing) may then come out as colour noise (configs/cyclegan_mnist.py:
mottled multicoloured translations without it). `cycle_noise` > 0 adds Gaussian noise to every
translation before it is translated back, which drowns such faint codes; it is not in the paper
and off by default.

Batches hold one unpaired batch of each domain ({'a', 'b'}, `data.sampler='paired'`, domain B
configured in `config.data.domain_b`). The picture of each direction has three rows: the fixed
inputs (from the step-0 batch), their translations and the cycle reconstructions. The family
`Translates`, which evaluators use.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax import imaging
from pegasus_jax.config import checks
from pegasus_jax.config.defaults import base_config, flatten_config
from pegasus_jax.data import paired
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.gan import losses, training
from pegasus_jax.models.cyclegan import PatchDiscriminator, ResnetGenerator, init_params
from pegasus_jax.run import precision

PyTree = Any
DIRECTIONS = ("a_to_b", "b_to_a")
REVERSE = {"a_to_b": "b_to_a", "b_to_a": "a_to_b"}
SOURCE = {"a_to_b": "a", "b_to_a": "b"}
TARGET = {"a_to_b": "b", "b_to_a": "a"}


@flax.struct.dataclass
class CycleGANState:
  """Both generators and both discriminators (dicts by direction / domain) with their Adam states.

  Instance norm keeps no statistics, so parameters, optimiser states, the step and the key the
  step folds (for the cycle noise) are everything a bitwise resume needs.
  """

  step: jax.Array
  rng: jax.Array
  g_params: PyTree  # {'a_to_b': ..., 'b_to_a': ...}
  g_opt_state: PyTree
  d_params: PyTree  # {'a': ..., 'b': ...}: D_a judges domain A, D_b domain B
  d_opt_state: PyTree


def cyclegan_config() -> ml_collections.ConfigDict:
  """MNIST (grey, 32x32, train[:30000]) <-> coloured MNIST (RGB, train[30000:]), lambda 10."""
  config = base_config()
  config.family = CycleGAN.name
  config.total_steps = 20_000
  config.batch_size = 32  # images of each domain per step
  config.num_sample_images = 10  # columns of the translation pictures
  # Domain A is config.data; domain B is config.data.domain_b. Disjoint halves of MNIST train,
  # so no digit image is seen in both domains (the pairs are truly unknown).
  config.data.sampler = "paired"
  config.data.name = "mnist"
  config.data.classes = ("all",)
  config.data.split = "train[:30000]"
  config.data.image_size = 32  # 28x28 digits resized to 32x32
  config.data.channels = 1  # MNIST stays grey: the generator to B invents the colours
  config.data.random_flip = False  # mirrored digits are not digits
  config.data.domain_b = paired.domain_b_config()

  config.cycle_weight = 10.0  # lambda of the L1 cycle-consistency loss
  config.identity_weight = 0.0  # L1 identity loss weight (paper: 0.5 * lambda); 0 = off
  # Std of Gaussian noise added to each translation before it is translated back in the cycle
  # (0 = off, the paper). Against steganography: see the module docstring.
  config.cycle_noise = 0.0

  config.model = ml_collections.ConfigDict()
  config.model.g_width = 32  # channels of the first generator layer; x2 per halving
  config.model.g_downsamples = 2  # stride-2 halvings before the blocks (and x2 upsamplings after)
  config.model.g_blocks = 4  # residual blocks at the lowest resolution
  config.model.d_width = 64  # channels of the first PatchGAN layer; x2, x4 after

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.optimizer.schedule = "constant"  # 'constant' | 'linear' (annealed to 0)

  # With config.eval_every > 0: the share of translated test digits that a classifier of the
  # target domain reads as the source digit (`evaluators.label_preservation`); classifier_b is
  # a classifier run of domain B (for a -> b), classifier_a of domain A (for b -> a).
  config.evals.label_preservation = ml_collections.ConfigDict(dict(
      type="label_preservation", classifier_a="", classifier_b="", split="test",
      num_images=1_000))
  return config


FIELD_CHECKS: dict[str, checks.Check] = {
    "cycle_weight": checks.non_negative_float,
    "identity_weight": checks.non_negative_float,
    "cycle_noise": checks.non_negative_float,
    "model.g_width": checks.positive_int,
    "model.g_downsamples": checks.non_negative_int,
    "model.g_blocks": checks.non_negative_int,
    "model.d_width": checks.positive_int,
    "optimizer.g_lr": checks.positive_float,
    "optimizer.d_lr": checks.positive_float,
    "optimizer.b1": checks.unit_interval,
    "optimizer.b2": checks.unit_interval,
    "optimizer.schedule": checks.one_of(*training.SCHEDULES),
}


def _as_channels(images: np.ndarray, channels: int) -> np.ndarray:
  """Grey images repeated to RGB, so both domains fit one picture."""
  return np.repeat(images, channels, axis=-1) if images.shape[-1] < channels else images


class CycleGAN:
  """Family 'cyclegan': G_ab, G_ba, D_a, D_b on unpaired batches {'a', 'b'}."""

  name = "cyclegan"
  signature_fields = ("data.name", "data.transform", "data.image_size", "data.channels",
                      "data.domain_b.name", "data.domain_b.transform",
                      "data.domain_b.image_size", "data.domain_b.channels", "model")
  default_config = staticmethod(cyclegan_config)

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    checks.run_checks(flatten_config(config), {**FIELD_CHECKS, **paired.DOMAIN_B_CHECKS})
    data, domain_b = config.data, config.data.domain_b
    if data.sampler != "paired":
      raise ConfigError(f"config.data.sampler={data.sampler!r}: CycleGAN learns from one "
                        "unpaired batch of each domain; use 'paired'")
    paired.check_domain_channels(config)
    if domain_b.image_size != data.image_size:
      raise ConfigError(f"config.data.domain_b.image_size={domain_b.image_size} must equal "
                        f"config.data.image_size={data.image_size}: the generators keep the size")
    halvings = config.model.g_downsamples
    if data.image_size % 2**halvings or data.image_size // 2**halvings < 2 or (
        data.image_size < 8):
      raise ConfigError(f"config.data.image_size={data.image_size} must be >= 8 and a multiple "
                        f"of 2**model.g_downsamples={2**halvings}, with >= 2 pixels left (the "
                        f"generator halves it {halvings} times)")
    if config.identity_weight and data.channels != domain_b.channels:
      raise ConfigError(f"config.identity_weight={config.identity_weight} feeds each domain "
                        "to the other's generator, which needs equal channels: "
                        f"config.data.channels={data.channels}, config.data.domain_b.channels="
                        f"{domain_b.channels} (set identity_weight=0)")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    self.class_labels = tuple(info.labels)  # the two domains' names
    self.shapes = {domain: tuple(info.example_shapes[domain]) for domain in ("a", "b")}
    self.examples_per_step = config.batch_size
    self.cycle_weight = float(config.cycle_weight)
    self.identity_weight = float(config.identity_weight)
    self.cycle_noise = float(config.cycle_noise)
    model = config.model
    dtype = precision.compute_dtype(config)  # the networks' activations; parameters: float32
    self.generators = {
        direction: ResnetGenerator(out_channels=self.shapes[TARGET[direction]][-1],
                                   width=model.g_width, blocks=model.g_blocks,
                                   downsamples=model.g_downsamples, dtype=dtype)
        for direction in DIRECTIONS}
    self.discriminator = PatchDiscriminator(width=model.d_width, dtype=dtype)
    self.g_tx = training.adam(config.optimizer.g_lr, config.optimizer, config.total_steps)
    self.d_tx = training.adam(config.optimizer.d_lr, config.optimizer, config.total_steps)
    self._translate_jit = jax.jit(self.translate, static_argnames="direction")

  def data_spec(self) -> dict[str, FieldSpec]:
    return {domain: FieldSpec((self.examples_per_step,) + shape, "float32")
            for domain, shape in self.shapes.items()}

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> CycleGANState:
    keys = dict(zip(("a_to_b", "b_to_a", "a", "b", "train"), jax.random.split(rng, 5)))
    g_params = {direction: init_params(self.generators[direction], keys[direction],
                                       jnp.zeros((1,) + self.shapes[SOURCE[direction]]))
                for direction in DIRECTIONS}
    d_params = {domain: init_params(self.discriminator, keys[domain],
                                    jnp.zeros((1,) + self.shapes[domain]))
                for domain in ("a", "b")}
    return CycleGANState(step=jnp.zeros((), jnp.int32), rng=keys["train"], g_params=g_params,
                         g_opt_state=self.g_tx.init(g_params), d_params=d_params,
                         d_opt_state=self.d_tx.init(d_params))

  # -- translation ----------------------------------------------------------------------------
  def _generate(self, g_params: PyTree, images: jax.Array, direction: str) -> jax.Array:
    return self.generators[direction].apply({"params": g_params[direction]}, images)

  def _score(self, d_params: PyTree, images: jax.Array, domain: str) -> jax.Array:
    return self.discriminator.apply({"params": d_params[domain]}, images)

  def translate(self, state: CycleGANState, images: jax.Array, direction: str) -> jax.Array:
    """Images of the other domain, in [-1, 1]; direction 'a_to_b' or 'b_to_a'."""
    if direction not in DIRECTIONS:
      raise ValueError(f"direction {direction!r} must be one of {DIRECTIONS}")
    return self._generate(state.g_params, images, direction)

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]
                    ) -> dict[str, np.ndarray]:
    """The first `num` images of each domain in the step-0 batch (fixed for the whole run)."""
    count = min(num, len(batch["a"]), len(batch["b"]))
    return {domain: np.asarray(batch[domain][:count]) for domain in ("a", "b")}

  def visuals(self, state: CycleGANState, fixed: Mapping[str, np.ndarray]) -> Visuals:
    """'a_to_b' and 'b_to_a': rows input | translated | reconstructed, one column per image."""
    channels = max(shape[-1] for shape in self.shapes.values())
    pictures = {}
    for direction in DIRECTIONS:
      inputs = fixed[SOURCE[direction]]
      translated = self._translate_jit(state, inputs, direction=direction)
      reconstructed = self._translate_jit(state, translated, direction=REVERSE[direction])
      rows = [_as_channels(np.asarray(x), channels)
              for x in (inputs, translated, reconstructed)]
      pictures[direction] = imaging.image_grid(np.concatenate(rows), columns=len(inputs))
    return pictures

  # -- training -------------------------------------------------------------------------------
  def generator_losses(self, g_params: PyTree, d_params: PyTree,
                       real: Mapping[str, jax.Array], noise_key: jax.Array | None = None
                       ) -> tuple[jax.Array, tuple[dict, dict]]:
    """The generators' total loss, and (the fakes by domain, the loss terms by name).

    With the identity loss on, G_ab meets a and b in one call (instance norm treats every
    image on its own, so this is the same as two calls, compiled once). With `cycle_noise`,
    `noise_key` draws the noise added to each translation on its way back.
    """
    fake, identity = {}, {}
    for direction in DIRECTIONS:
      source, target = SOURCE[direction], TARGET[direction]
      if self.identity_weight:
        both = self._generate(g_params, jnp.concatenate([real[source], real[target]]), direction)
        fake[target], identity[target] = jnp.split(both, [len(real[source])])
      else:
        fake[target] = self._generate(g_params, real[source], direction)
    parts = {}
    total = 0.0
    for direction in DIRECTIONS:
      source, target = SOURCE[direction], TARGET[direction]
      adversarial = losses.least_squares_g_loss(self._score(d_params, fake[target], target))
      on_the_way_back = fake[target]
      if self.cycle_noise:
        noise = jax.random.normal(jax.random.fold_in(noise_key, DIRECTIONS.index(direction)),
                                  on_the_way_back.shape)
        on_the_way_back = on_the_way_back + self.cycle_noise * noise
      back = self._generate(g_params, on_the_way_back, REVERSE[direction])
      cycle = losses.mean_absolute_error(real[source], back)
      parts[f"g_adversarial_{direction}"] = adversarial
      parts[f"cycle_{source}"] = cycle
      total = total + adversarial + self.cycle_weight * cycle
      if self.identity_weight:
        parts[f"identity_{target}"] = losses.mean_absolute_error(real[target], identity[target])
        total = total + self.identity_weight * parts[f"identity_{target}"]
    return total, (fake, parts)

  def discriminator_losses(self, d_params: PyTree, real: Mapping[str, jax.Array],
                           fake: Mapping[str, jax.Array]) -> tuple[jax.Array, dict]:
    """Both discriminators' total loss and the terms by name; real and fake in one call each."""
    parts = {}
    for domain in ("a", "b"):
      scores = self._score(d_params, jnp.concatenate([real[domain], fake[domain]]), domain)
      real_scores, fake_scores = jnp.split(scores, [len(real[domain])])
      parts[f"d_loss_{domain}"] = losses.least_squares_d_loss(real_scores, fake_scores)
      parts[f"d_real_{domain}"] = jnp.mean(real_scores)
      parts[f"d_fake_{domain}"] = jnp.mean(fake_scores)
    return parts["d_loss_a"] + parts["d_loss_b"], parts

  def train_step(self, state: CycleGANState, batch: Mapping[str, jax.Array]
                 ) -> tuple[CycleGANState, Metrics]:
    """One update of both generators (adversarial + cycle (+ identity)), then of both Ds.

    The discriminators judge the fakes of this step's generator pass (before its update), as
    the reference implementation does. The only randomness, the cycle noise, comes from
    fold_in(rng, step).
    """
    real = {"a": batch["a"], "b": batch["b"]}
    noise_key = jax.random.fold_in(state.rng, state.step)
    (g_loss, (fake, g_parts)), g_grads = jax.value_and_grad(
        self.generator_losses, has_aux=True)(state.g_params, state.d_params, real, noise_key)
    g_updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    (_, d_parts), d_grads = jax.value_and_grad(self.discriminator_losses, has_aux=True)(
        state.d_params, real, jax.lax.stop_gradient(fake))
    d_updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    new_state = state.replace(step=state.step + 1, g_params=g_params, g_opt_state=g_opt_state,
                              d_params=d_params, d_opt_state=d_opt_state)
    metrics = dict(g_parts, **d_parts, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads),
                   d_grad_norm=optax.tree.norm(d_grads))
    return new_state, metrics
