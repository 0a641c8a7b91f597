"""JointGAN: one generator against K class discriminators (plain DCGAN is the case K = 1).

Discriminator D_c is trained on real images of class c against the generator's samples and
minimises its own loss (maximises the GAN value L_c); the generator minimises sum_c L_c, which
pulls its samples to where the class distributions overlap -- with classes horse and bird, a
pegasus. The K discriminators are one `nn.vmap`-stacked module applied to all classes at once.

Recipe choices are config fields, shared with the other GAN families (`gan_config`): the
networks (`model.arch`: the DCGAN ones, or the SN-GAN ResNet of Miyato et al. 2018), the loss
(non-saturating, minimax, hinge, Wasserstein) and a gradient penalty (`gp_weight`; WGAN-GP is
loss='wasserstein', gp_weight=10), n_disc critic steps per generator step, Adam with a constant
or linearly annealed learning rate, an EMA generator for sampling (`ema.decay`), and DiffAugment
(`diffaugment`, Zhao et al. 2020) applied to real and fake images before every discriminator.
SN-GAN and WGAN-GP on CIFAR-10 are configs of this family (`configs/sngan_cifar.py`,
`configs/wgan_gp_cifar.py`): all 10 classes as one ('all'), K = 1.

`config.precision='bfloat16'` builds both networks with bf16 convolutions and matmuls
(`pegasus_jax.precision`); the networks return float32 images and logits, so the losses, the
gradient penalty, the optimisers and the EMA below run in float32 either way.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax import config_checks as checks
from pegasus_jax import imaging, precision
from pegasus_jax.config_defaults import base_config, flatten_config
from pegasus_jax.data_spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.families.flax_variables import apply_with_model_state, split_variables
from pegasus_jax.gan import aggregation, diffaugment, losses, regularizers, training
from pegasus_jax.gan import guide as guide_term
from pegasus_jax.models import dcgan, sngan_resnet

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
  """The JointGAN/DCGAN field set: loop and data fields plus losses, networks and Adam."""
  config = base_config()
  config.family = "jointgan"
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
  # `classes`, frozen classifier(augment(G(z)))). checksum: filled in from the guide's weights.
  config.guide = ml_collections.ConfigDict(dict(
      classifier="", weight=0.0, classes=("horse", "bird"), augment="color,translation,cutout",
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
  config.model.icnr = False  # resnet + depth_to_space: checkerboard-free sub-pixel init

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


def use_sngan_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The SN-GAN CIFAR-10 ResNet recipe (Miyato et al. 2018): G 256 / D 128 channels, spectral
  norm, hinge loss, n_dis 5, Adam 2e-4 (0, 0.9) linearly to 0. Configs start here and override."""
  config.model.arch = "resnet"
  config.model.g_width = 256
  config.model.d_width = 128
  config.model.d_norm = "spectral"
  config.loss = "hinge"
  config.n_disc = 5
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 2e-4
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.9
  config.optimizer.schedule = "linear"
  return config


def use_dcgan_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The DCGAN recipe of the write-ups (Radford et al. 2016): z ~ N(0, I_100), batch norm in the
  discriminator, ReLU in G and LeakyReLU in D; the networks and Adam (2e-4, beta1 0.5) are
  `gan_config`'s defaults. Configs start here and override."""
  config.model.z_dim = 100
  config.model.d_norm = "batch"
  config.model.g_activation = "relu"
  config.model.d_activation = "leaky_relu"
  return config


def shrink_dcgan_for_cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The 64x64 DCGANs' `:cpu` smoke size (CelebA, Pokemon): narrow networks, 300 steps."""
  config.model.g_width = 16
  config.model.d_width = 16
  config.batch_size = 32
  config.total_steps = 300
  config.log_every = 50
  config.sample_every = 100
  config.checkpoint_every = 100
  return config


def shrink_resnet_for_cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The ResNet GANs' `:cpu` size (SN-GAN, WGAN-GP, cGAN): minutes on 2 cores, same recipe."""
  config.total_steps = 300
  config.batch_size = 16
  config.n_disc = 2
  config.model.g_width = 64
  config.model.d_width = 64
  config.log_every = 25
  config.sample_every = 100
  config.checkpoint_every = 100
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
                         dtype=dtype)


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


class JointGAN(GANRecipe):
  """The JointGAN family (registered as 'jointgan' and, for K = 1, 'dcgan')."""

  default_config = staticmethod(gan_config)
  # a resume with another guide classifier (path or weights) is refused
  signature_fields = GANRecipe.signature_fields + ("guide.classifier", "guide.checksum")

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    check_gan_config(config)
    if config.guide.weight and not config.guide.classifier:
      raise ConfigError(f"config.guide.weight={config.guide.weight} needs "
                        "config.guide.classifier=CLASSIFIER_WORKDIR (the frozen guide)")
    if config.data.sampler != "class_balanced":
      raise ConfigError(f"config.data.sampler={config.data.sampler!r}: family "
                        f"{config.family!r} trains one discriminator per class on "
                        "class-balanced batches; use 'class_balanced'")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    super().__init__(config, info)
    model = config.model
    self.generator = build_generator(model, self.image_shape, dtype=self.compute_dtype)
    networks = sngan_resnet if model.arch == "resnet" else dcgan
    self.discriminators = networks.class_discriminators(
        self.num_classes,
        **build_discriminator_kwargs(model, self.image_shape, self.compute_dtype))
    # .get: runs saved before these fields existed load with their defaults ('sum', no guide)
    self.g_aggregate = config.get("g_aggregate", "sum")
    self.guide = None
    self.guide_weight = float(config.guide.weight) if config.get("guide") else 0.0
    if self.guide_weight:
      self.guide = guide_term.load_guide(config.guide.classifier)
      if tuple(self.guide.image_shape) != self.image_shape:
        raise ConfigError(f"config.guide.classifier={config.guide.classifier!r} takes images "
                          f"{tuple(self.guide.image_shape)}; this generator makes "
                          f"{self.image_shape}")
      self.guide_target = guide_term.target_distribution(self.guide.labels,
                                                         tuple(config.guide.classes))
      guide_term.record_checksum(config, self.guide)
    self._generate_jit = jax.jit(self.generate)

  def data_spec(self) -> dict[str, FieldSpec]:
    return {"real": FieldSpec((self.num_classes, self.examples_per_step) + self.image_shape,
                              "float32", batch_axis=1)}

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> GANState:
    g_key, d_key, train_key = jax.random.split(rng, 3)
    g_vars = self.generator.init(g_key, jnp.zeros((1, self.z_dim)), train=False)
    d_vars = self.discriminators.init(
        d_key, jnp.zeros((self.num_classes, 1) + self.image_shape), False, False)
    return self._initial_state(train_key, g_vars, d_vars)

  # -- sampling -------------------------------------------------------------------------------
  def generate(self, state: GANState, latents: jax.Array) -> jax.Array:
    """Images of the sampling (EMA) generator, batch norm with its running statistics."""
    return self.generator.apply(
        {"params": state.g_ema_params, **state.g_model_state}, latents, train=False)

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]
                    ) -> jax.Array:
    return self.latents(rng, num)

  def visuals(self, state: GANState, fixed: jax.Array) -> Visuals:
    """The fixed-noise sample grid."""
    images = np.asarray(self._generate_jit(state, fixed))
    return {"samples": imaging.image_grid(images)}

  def discriminator_logits(self, state: GANState, images: jax.Array) -> jax.Array:
    """Every class discriminator's logit for every image, in evaluation mode: (K, N)."""
    stacked = jnp.broadcast_to(images[None], (self.num_classes,) + images.shape)
    return self.discriminators.apply(
        {"params": state.d_params, **state.d_model_state}, stacked, False, False)

  # -- training -------------------------------------------------------------------------------
  def _generate_train(self, g_params: PyTree, g_model_state: PyTree, z: jax.Array):
    return self.generator.apply(
        {"params": g_params, **g_model_state}, z, train=True, mutable=["batch_stats"])

  def _d_apply(self, d_params, d_model_state, images, update_stats: bool):
    """Logits (K, N) and the updated model state (spectral vectors, batch statistics)."""
    return apply_with_model_state(self.discriminators, d_params, d_model_state, images,
                                  update_stats, True)

  def _d_real_fake(self, d_params, d_model_state, real, fake, update_stats: bool,
                   key: jax.Array | None = None):
    """Logits for real (K, B, ...) and shared fake (B, ...) images, and the new model state.

    With DiffAugment, one call augments real and fake alike (same policy, per-image draws from
    `key`) right before the discriminators.

    Without batch norm, one call on [real, fake] per class (one batched computation). With
    batch norm, real and fake are normalised as separate batches, as in the PyTorch DCGAN
    recipe: normalising the mixed batch here but the all-fake batch in the generator's step
    would give D and G different views of the same fakes, and the generator's gradient
    vanishes (seen on CIFAR-10 and Pokemon). The spectral vectors advance once per D step.
    """
    stacked_fake = jnp.broadcast_to(fake[None], (self.num_classes,) + fake.shape)
    if self.policy and key is not None:
      both = self._augment(key, jnp.concatenate([real, stacked_fake], axis=1))
      real, stacked_fake = both[:, :real.shape[1]], both[:, real.shape[1]:]
    if "batch_stats" not in d_model_state:
      images = jnp.concatenate([real, stacked_fake], axis=1)
      logits, new_state = self._d_apply(d_params, d_model_state, images, update_stats)
      return logits[:, :real.shape[1]], logits[:, real.shape[1]:], new_state
    real_logits, new_state = self._d_apply(d_params, d_model_state, real, update_stats)
    fake_logits, new_state = self._d_apply(d_params, new_state, stacked_fake, False)
    return real_logits, fake_logits, new_state

  def discriminator_losses(self, state: GANState, real: jax.Array, z: jax.Array):
    """Per-class D losses (K,) on real images (K, B, ...) and G(z), without updating anything."""
    fake, _ = self._generate_train(state.g_params, state.g_model_state, z)
    real_logits, fake_logits, _ = self._d_real_fake(
        state.d_params, state.d_model_state, real, fake, False)
    return losses.discriminator_loss(self.loss, real_logits, fake_logits)

  def train_step(self, state: GANState, batch: dict[str, jax.Array]) -> tuple[GANState, Metrics]:
    """n_disc updates of all K discriminators, then one generator update against their
    per-sample aggregate (`config.g_aggregate`; 'sum': the sum of the per-class losses).

    batch['real']: (K, n_disc * B, H, W, C); D step j uses images j, j + n_disc, ... so the
    batch axis keeps its device sharding when it is split.
    """
    num_classes, n_disc = self.num_classes, self.n_disc
    real = batch["real"]
    b = real.shape[1] // n_disc
    real = real.reshape((num_classes, b, n_disc) + real.shape[2:])
    real = jnp.moveaxis(real, 2, 0)  # (n_disc, K, B, H, W, C)
    d_keys, g_key = self._step_keys(state)

    def d_update(carry, inputs):
      d_params, d_model_state, d_opt_state = carry
      real_k, step_key = inputs
      z_key, augment_key, gp_key = jax.random.split(step_key, 3)
      z = jax.random.normal(z_key, (b, self.z_dim))
      fake, _ = self._generate_train(state.g_params, state.g_model_state, z)
      fake = jax.lax.stop_gradient(fake)

      def loss_fn(params):
        real_logits, fake_logits, new_model_state = self._d_real_fake(
            params, d_model_state, real_k, fake, True, augment_key)
        per_class = losses.discriminator_loss(self.loss, real_logits, fake_logits)
        extra = {}
        if self.gp_weight:
          stacked_fake = jnp.broadcast_to(fake[None], real_k.shape)
          critic = lambda x: self._d_apply(params, new_model_state, x, False)[0]
          _, norms = regularizers.gradient_penalty(critic, real_k, stacked_fake, gp_key,
                                                   batch_dims=2)
          extra["gradient_penalty"] = jnp.mean(jnp.square(norms - 1.0), axis=1)
          extra["critic_grad_norm"] = jnp.mean(norms, axis=1)
          per_class = per_class + self.gp_weight * extra["gradient_penalty"]
        return jnp.sum(per_class), (per_class, new_model_state, real_logits, fake_logits, extra)

      grads, (per_class, new_model_state, real_logits, fake_logits, extra) = jax.grad(
          loss_fn, has_aux=True)(d_params)
      updates, d_opt_state = self.d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = {"d_loss": per_class,
                 "d_grad_norm": training.per_class_norm(grads, num_classes),
                 **losses.critic_metrics(self.loss, real_logits, fake_logits), **extra}
      return (d_params, new_model_state, d_opt_state), metrics

    d_carry, d_metrics = self._discriminator_updates(state, d_update, (real, d_keys))
    d_params, d_model_state, _ = d_carry

    z_key, augment_key = jax.random.split(g_key)
    z = jax.random.normal(z_key, (b, self.z_dim))
    frozen_d_state = d_model_state  # spectral vectors frozen: update_stats=False below

    def g_loss_fn(g_params):
      fake, new_g_state = self._generate_train(g_params, state.g_model_state, z)
      stacked = jnp.broadcast_to(fake[None], (num_classes,) + fake.shape)
      if self.policy:
        stacked = self._augment(augment_key, stacked)
      logits, _ = self._d_apply(d_params, frozen_d_state, stacked, False)
      per_class = losses.generator_loss(self.loss, logits)
      if self.g_aggregate == "sum":
        total = jnp.sum(per_class)
      else:
        per_sample = aggregation.per_sample_generator_losses(self.loss, logits)
        total = aggregation.aggregate(per_sample, self.g_aggregate)
      extra = {}
      if self.guide is not None:  # its params are a constant here: never in the optimiser
        extra["g_guide_ce"] = guide_term.guide_loss(
            self.guide, fake, jax.random.fold_in(g_key, 2), self.config.guide.augment,
            self.guide_target)
        total = total + self.guide_weight * extra["g_guide_ce"]
      return total, (per_class, new_g_state, extra)

    (g_total, (g_per_class, g_model_state, g_extra)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    metrics = dict(d_metrics, g_loss=g_per_class, g_loss_total=g_total,
                   g_grad_norm=optax.tree.norm(g_grads), **g_extra)
    return self._next_state(state, g_grads, g_model_state, d_carry), metrics
