"""The GAN recipe that JointGAN (and DCGAN), SN-GAN, WGAN-GP and the conditional GAN share.

The field set (`gan_config`) and its checks: the networks (`model.arch`: the DCGAN ones, or the
SN-GAN ResNet of Miyato et al. 2018), the loss (non-saturating, minimax, hinge, Wasserstein) and
a gradient penalty (`gp_weight`; WGAN-GP is loss='wasserstein', gp_weight=10), n_disc critic
steps per generator step, Adam with a constant or linearly annealed learning rate, an EMA
generator for sampling (`ema.decay`), and DiffAugment (`diffaugment`, Zhao et al. 2020) applied
to real and fake images before every discriminator. Also the G/D builders for `model.arch`, the
train state (`GANState`) and `GANRecipe`, the frame of a train step that the families subclass
and fill with their networks and losses. A config field means the same thing in each family.

`config.precision='bfloat16'` builds both networks with bf16 convolutions and matmuls
(`pegasus_jax.run.precision`); the networks return float32 images and logits, so the losses, the
gradient penalty, the optimisers and the EMA run in float32 either way.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from pegasus_jax.config import checks
from pegasus_jax.config.defaults import base_config, flatten_config
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.projected_d import check_config as check_projected_config
from pegasus_jax.families.projected_d import projected_config
from pegasus_jax.families.base import DataInfo, Metrics
from pegasus_jax.families.classifier_recipe import TEST_TIME_VIEWS
from pegasus_jax.gan import aggregation, diffaugment, losses, training
from pegasus_jax.gan import guide as guide_term
from pegasus_jax.models import dcgan, sngan_resnet
from pegasus_jax.models.flax_variables import split_variables
from pegasus_jax.run import precision

PyTree = Any
ARCHS = ("dcgan", "resnet")


@flax.struct.dataclass
class GANState:
  """Everything a run needs to continue bit-for-bit: parameters, model state, optimisers, RNG.

  `*_model_state` holds the non-parameter Flax collections (`batch_stats`, and `spectral` for the
  spectral-norm power-iteration vectors of the discriminators).
  """

  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  g_model_state: PyTree
  g_opt_state: PyTree
  d_params: PyTree
  d_model_state: PyTree
  d_opt_state: PyTree
  g_ema_params: PyTree  # what sampling uses: an EMA of g_params (a copy with ema.decay = 0)


def gan_config() -> ml_collections.ConfigDict:
  """The GAN recipe's field set: loop and data fields plus losses, networks and Adam (the family
  is the caller's: `jointgan_config`, `cgan_config`)."""
  config = base_config()
  config.batch_size = 64  # global: real images per class and fake images per D step
  config.n_disc = 1  # discriminator steps per generator step
  config.loss = "nonsaturating"  # 'nonsaturating' | 'minimax' | 'hinge' | 'wasserstein'
  config.gp_weight = 0.0  # gradient penalty lambda on every discriminator (WGAN-GP: 10)
  # DiffAugment policy applied to real and fake images before every discriminator:
  # a comma-separated subset of 'color,translation,cutout' ('' = off).
  config.diffaugment = ""
  # JointGAN: how G combines each sample's K per-class losses (`gan.aggregation`):
  # 'sum' | 'max' (the worst class drives the sample) | 'softmax:T' (T > 0, between the two).
  config.g_aggregate = "sum"
  # JointGAN: an optional guide term (`gan.guide`): G also minimises weight * CE((1/2, 1/2) on
  # `classes`, frozen classifier(augment(G(z)))) with target 'hybrid', or weight *
  # -log(sum of the classes' probabilities) with target 'any' (be one of them).
  # batch: how many of the step's fakes the guide reads (0 = all): an unbiased estimate of the
  # term at a fraction of its cost (the guide's forward + backward is most of a CPU step).
  # blur_sigma: the (low, high) std range in pixels of the `blur` op when `augment` names it.
  # tta: the guide's test-time views ('' = the classifier's own, e.g. 'flip'; 'none' = one view,
  # half the guide's cost when the classifier averages two; its calibration was fitted on its own).
  # class_mass: the 'hybrid' target's mass on each of `classes` (() = even; e.g. (0.4, 0.6)).
  # checksum: filled in from the guide's weights.
  config.guide = ml_collections.ConfigDict(dict(
      classifier="", weight=0.0, classes=("horse", "bird"), target="hybrid", class_mass=(),
      augment="color,translation,cutout", blur_sigma=diffaugment.BLUR_SIGMA, tta="", batch=0,
      checksum=""))

  config.model = ml_collections.ConfigDict()
  config.model.arch = "dcgan"  # 'dcgan' | 'resnet' (the SN-GAN CIFAR ResNet)
  config.model.z_dim = 128
  config.model.g_width = 64  # resnet: channels of every G block (SN-GAN: 256)
  config.model.d_width = 64  # resnet: channels of every D block (SN-GAN: 128)
  config.model.d_norm = "spectral"  # 'spectral' | 'batch' (dcgan only) | 'none'
  config.model.g_activation = "relu"  # dcgan only (the ResNet uses ReLU)
  config.model.d_activation = "leaky_relu"  # dcgan only
  config.model.leaky_slope = 0.2  # dcgan only
  config.model.upsample = "nearest"  # resnet: 'nearest' | 'depth_to_space'
  config.model.downsample = "avg_pool"  # resnet: 'avg_pool' | 'space_to_depth'
  # checkerboard-free init of G's upsampling: resnet + depth_to_space, and every dcgan UpConv
  config.model.icnr = False
  # 'default': model.arch's discriminator; 'projected': heads on a frozen classifier's features
  # (`families.projected_d`, fields in model.projected; the heads' width is model.d_width).
  config.model.d_arch = "default"
  config.model.projected = projected_config()

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.optimizer.schedule = "constant"  # 'constant' | 'linear' (annealed to 0)

  # Sampling generator: an exponential moving average of G's parameters (0 = off: G itself),
  # averaging from start_step on; used for grids, sampling and evaluation, saved with the run.
  config.ema = ml_collections.ConfigDict()
  config.ema.decay = 0.0
  config.ema.start_step = 0

  # In-training evaluation (with config.eval_every > 0): classifier metrics of generated
  # samples -- pegasus score, classifier IS, FCD -- against the classifier run in `classifier`
  # ('' = this evaluation is off).
  config.evals.classifier_metrics = ml_collections.ConfigDict(
      dict(type="classifier_metrics", classifier="", num_samples=1_000, split="train"))
  return config


def _image_size(value) -> str | None:
  if checks.positive_int(value):
    return checks.positive_int(value)
  try:
    dcgan.num_resolution_blocks(value)
  except ValueError:
    return "must be a power of two >= 8 (32, 64, 128, ...) for the DCGAN models"
  return None


def _policy(value: Any) -> str | None:
  if not isinstance(value, str):
    return "must be a string such as 'color,translation,cutout' ('' = off)"
  return diffaugment.validate_policy(value)


FIELD_CHECKS: dict[str, checks.Check] = {
    "n_disc": checks.positive_int,
    "loss": checks.one_of(*losses.GAN_LOSSES),
    "gp_weight": checks.non_negative_float,
    "diffaugment": _policy,
    "g_aggregate": aggregation.validate_aggregate,
    "guide.classifier": checks.string,
    "guide.weight": checks.non_negative_float,
    "guide.augment": _policy,
    "guide.blur_sigma": diffaugment.validate_blur_sigma,
    "guide.tta": checks.one_of("", *TEST_TIME_VIEWS),
    "guide.target": checks.one_of(*guide_term.TARGETS),
    "guide.class_mass": guide_term.validate_class_mass,
    "guide.batch": checks.non_negative_int,
    "guide.checksum": checks.string,
    "model.arch": checks.one_of(*ARCHS),
    "model.upsample": checks.one_of("nearest", "depth_to_space"),
    "model.downsample": checks.one_of("avg_pool", "space_to_depth"),
    "model.icnr": checks.boolean,
    "optimizer.schedule": checks.one_of(*training.SCHEDULES),
    "ema.decay": checks.unit_interval,
    "ema.start_step": checks.non_negative_int,
    "model.z_dim": checks.positive_int,
    "model.g_width": checks.positive_int,
    "model.d_width": checks.positive_int,
    "model.d_norm": checks.one_of(*dcgan.DISCRIMINATOR_NORMS),
    "model.g_activation": checks.one_of(*dcgan.ACTIVATIONS),
    "model.d_activation": checks.one_of(*dcgan.ACTIVATIONS),
    "model.leaky_slope": checks.non_negative_float,
    "optimizer.g_lr": checks.positive_float,
    "optimizer.d_lr": checks.positive_float,
    "optimizer.b1": checks.unit_interval,
    "optimizer.b2": checks.unit_interval,
}


def check_gan_config(config: ml_collections.ConfigDict) -> None:
  """The GAN fields' checks and the combinations that cannot work."""
  checks.run_checks(flatten_config(config), FIELD_CHECKS)
  check_projected_config(config)
  model = config.model
  if model.arch == "dcgan":
    checks.run_checks({"data.image_size": config.data.image_size},
                      {"data.image_size": _image_size})
  else:
    try:
      sngan_resnet.num_generator_blocks(config.data.image_size)
    except ValueError as e:
      raise ConfigError(f"config.data.image_size={config.data.image_size} does not fit "
                        f"model.arch='resnet': {e}") from None
    if model.d_norm == "batch":
      raise ConfigError("config.model.d_norm='batch' is for model.arch='dcgan'; the ResNet "
                        "discriminator takes 'spectral' or 'none'")
  if config.gp_weight and model.d_norm == "batch":
    raise ConfigError(f"config.gp_weight={config.gp_weight} needs a discriminator without "
                      "batch norm (the penalty is per sample): set model.d_norm to 'spectral' "
                      "or 'none'")
  if config.loss == "wasserstein" and not config.gp_weight and model.d_norm != "spectral":
    raise ConfigError("config.loss='wasserstein' needs a Lipschitz critic: set "
                      "config.gp_weight (WGAN-GP: 10) or model.d_norm='spectral'")


def build_generator(model: ml_collections.ConfigDict, image_shape: tuple[int, ...],
                    num_classes: int = 0, dtype: Any = jnp.float32):
  """G for `model.arch` computing in `dtype`; `num_classes` > 0: conditional batch norm
  (ResNet only)."""
  size, channels = image_shape[0], image_shape[2]
  if model.arch == "resnet":
    return sngan_resnet.Generator(image_size=size, width=model.g_width, channels=channels,
                                  upsample=model.upsample, num_classes=num_classes,
                                  icnr=model.icnr, dtype=dtype)
  return dcgan.Generator(image_size=size, width=model.g_width, channels=channels,
                         activation=model.g_activation, leaky_slope=model.leaky_slope,
                         icnr=model.icnr, dtype=dtype)


def build_discriminator_kwargs(model: ml_collections.ConfigDict, image_shape: tuple[int, ...],
                               dtype: Any = jnp.float32) -> dict[str, Any]:
  """The discriminator's fields for `model.arch`, computing in `dtype`."""
  if model.arch == "resnet":
    return dict(image_size=image_shape[0], width=model.d_width, downsample=model.downsample,
                spectral_norm=model.d_norm == "spectral", dtype=dtype)
  return dict(image_size=image_shape[0], width=model.d_width, norm=model.d_norm,
              activation=model.d_activation, leaky_slope=model.leaky_slope, dtype=dtype)


class GANRecipe:
  """What every family built on `gan_config` shares: the recipe fields read once, the two Adam
  optimisers with their schedules, the prior, DiffAugment, the initial `GANState`, and the frame
  of a train step (its PRNG keys, the n_disc discriminator updates, the generator update with
  the EMA). JointGAN and the conditional GAN subclass it and add their networks and losses."""

  signature_fields = ("data.name", "data.classes", "data.image_size", "data.channels", "model")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    self.config = config
    self.class_labels = tuple(info.labels)
    self.num_classes = len(self.class_labels)
    self.loss = config.loss
    self.gp_weight = float(config.gp_weight)
    self.policy = config.diffaugment
    self.n_disc = config.n_disc
    self.batch_size = config.batch_size
    self.examples_per_step = config.batch_size * config.n_disc
    self.z_dim = config.model.z_dim
    self.image_shape = tuple(info.example_shapes["image"])
    self.compute_dtype = precision.compute_dtype(config)
    self.g_tx = training.adam(config.optimizer.g_lr, config.optimizer, config.total_steps)
    self.d_tx = training.adam(config.optimizer.d_lr, config.optimizer,
                              config.total_steps * config.n_disc)

  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    return jax.random.normal(rng, (num, self.z_dim))

  def _augment(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """DiffAugment with the configured policy (the identity when it is '')."""
    return diffaugment.diff_augment(key, images, self.policy)

  def _initial_state(self, train_key: jax.Array, g_variables: PyTree, d_variables: PyTree
                     ) -> GANState:
    """Step 0 from the networks' initial variables: fresh optimisers, the EMA a copy of G."""
    g_params, g_model_state = split_variables(g_variables)
    d_params, d_model_state = split_variables(d_variables)
    return GANState(
        step=jnp.zeros((), jnp.int32), rng=train_key,
        g_params=g_params, g_model_state=g_model_state, g_opt_state=self.g_tx.init(g_params),
        d_params=d_params, d_model_state=d_model_state, d_opt_state=self.d_tx.init(d_params),
        g_ema_params=jax.tree_util.tree_map(jnp.array, g_params))  # own buffers (donation)

  def _step_keys(self, state: GANState) -> tuple[jax.Array, jax.Array]:
    """This step's keys, from the run's key and the step: one per D update (n_disc,) and G's."""
    key = jax.random.fold_in(state.rng, state.step)
    return jax.random.split(jax.random.fold_in(key, 0), self.n_disc), jax.random.fold_in(key, 1)

  def _discriminator_updates(self, state: GANState, d_update, inputs: PyTree
                             ) -> tuple[tuple[PyTree, PyTree, PyTree], Metrics]:
    """`d_update` scanned over `inputs` (leading axis n_disc) from the state's discriminator
    (params, model state, optimiser state): the final triple and the last update's metrics."""
    d_carry, d_metrics = jax.lax.scan(
        d_update, (state.d_params, state.d_model_state, state.d_opt_state), inputs)
    return d_carry, jax.tree_util.tree_map(lambda m: m[-1], d_metrics)

  def _next_state(self, state: GANState, g_grads: PyTree, g_model_state: PyTree,
                  d_carry: tuple[PyTree, PyTree, PyTree]) -> GANState:
    """The state after this step: G updated by `g_grads`, the discriminator triple of
    `_discriminator_updates`, and the sampling (EMA) parameters following the new G."""
    g_updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    d_params, d_model_state, d_opt_state = d_carry
    return state.replace(
        step=state.step + 1, g_params=g_params, g_model_state=g_model_state,
        g_opt_state=g_opt_state, d_params=d_params, d_model_state=d_model_state,
        d_opt_state=d_opt_state,
        g_ema_params=training.sampling_params(state.g_ema_params, g_params, state.step,
                                              self.config))
