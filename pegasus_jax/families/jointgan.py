"""JointGAN: one generator against K class discriminators (plain DCGAN is the case K = 1).

Discriminator D_c is trained on real images of class c against the generator's samples and
minimises its own loss (maximises the GAN value L_c); the generator minimises sum_c L_c, which
pulls its samples to where the class distributions overlap -- with classes horse and bird, a
pegasus. The K discriminators are one `nn.vmap`-stacked module applied to all classes at once.

Recipe choices (networks, loss, gradient penalty, n_disc, Adam, EMA, DiffAugment, precision)
are config fields shared with the other GAN families: `families.gan_recipe`. SN-GAN and WGAN-GP
on CIFAR-10 are configs of this family (`configs/sngan_cifar.py`, `configs/wgan_gp_cifar.py`):
all 10 classes as one ('all'), K = 1.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax import imaging
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.frozen_classifier import load as load_frozen_classifier
from pegasus_jax.families.projected_d import build_class_discriminators, d_arch
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.families.gan_recipe import (GANRecipe, GANState, PyTree,
                                             build_discriminator_kwargs, build_generator,
                                             check_gan_config, gan_config)
from pegasus_jax.gan import aggregation, diffaugment, losses, regularizers, training
from pegasus_jax.gan import guide as guide_term
from pegasus_jax.models import dcgan, sngan_resnet
from pegasus_jax.models.flax_variables import apply_with_model_state

GUIDE_AUGMENT_STREAM = 2  # fold_in index of the guide term's augmentation key (under g_key)

def jointgan_config() -> ml_collections.ConfigDict:
  """The JointGAN/DCGAN field set: `gan_config` for this family."""
  config = gan_config()
  config.family = JointGAN.name
  return config


class JointGAN(GANRecipe):
  """The JointGAN family ('jointgan' and, for K = 1, 'dcgan')."""

  name = "jointgan"
  aliases = ("dcgan",)  # a single discriminator: JointGAN with one class (or one class union)
  default_config = staticmethod(jointgan_config)
  # a resume with another guide classifier (path or weights) is refused
  signature_fields = GANRecipe.signature_fields + ("guide.classifier", "guide.checksum")

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    check_gan_config(config)
    if config.guide.weight and not config.guide.classifier:
      raise ConfigError(f"config.guide.weight={config.guide.weight} needs "
                        "config.guide.classifier=CLASSIFIER_WORKDIR (the frozen guide)")
    mass = tuple(config.guide.get("class_mass", ()))
    if mass and config.guide.target != "hybrid":
      raise ConfigError(f"config.guide.class_mass={mass} shapes the 'hybrid' target only; "
                        f"config.guide.target={config.guide.target!r} has no mass to set")
    if mass and len(mass) != len(config.guide.classes):
      raise ConfigError(f"config.guide.class_mass={mass} needs one number per class of "
                        f"config.guide.classes={tuple(config.guide.classes)}")
    if config.guide.batch > config.batch_size:  # batch_size: the fakes of one generator step
      raise ConfigError(f"config.guide.batch={config.guide.batch} exceeds the "
                        f"{config.batch_size} fakes of a generator step (0 = all of them)")
    if config.data.sampler != "class_balanced":
      raise ConfigError(f"config.data.sampler={config.data.sampler!r}: family "
                        f"{config.family!r} trains one discriminator per class on "
                        "class-balanced batches; use 'class_balanced'")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    super().__init__(config, info)
    model = config.model
    self.generator = build_generator(model, self.image_shape, dtype=self.compute_dtype)
    networks = sngan_resnet if model.arch == "resnet" else dcgan
    if d_arch(config) == "projected":
      self.discriminators = build_class_discriminators(
          config, self.num_classes, self.image_shape)
    else:
      self.discriminators = networks.class_discriminators(
          self.num_classes,
          **build_discriminator_kwargs(model, self.image_shape, self.compute_dtype))
    # .get: runs saved before these fields existed load with their defaults ('sum', no guide)
    self.g_aggregate = config.get("g_aggregate", "sum")
    self.guide = None
    self.guide_weight = float(config.guide.weight) if config.get("guide") else 0.0
    if self.guide_weight:
      frozen = load_frozen_classifier(config.guide.classifier, "config.guide.classifier")
      # checksum: the 16-digit weights hash the evaluation layer shows for the same classifier
      self.guide = guide_term.guide_from_classifier(
          frozen.family, frozen.state, frozen.temperature, frozen.labels, frozen.image_shape,
          frozen.sha256[:16], frozen.workdir,
          config.guide.get("tta") or None)  # '' (and runs saved before it): the guide's own
      if tuple(self.guide.image_shape) != self.image_shape:
        raise ConfigError(f"config.guide.classifier={config.guide.classifier!r} takes images "
                          f"{tuple(self.guide.image_shape)}; this generator makes "
                          f"{self.image_shape}")
      self.guide_target = guide_term.target_distribution(
          self.guide.labels, tuple(config.guide.classes),
          tuple(config.guide.get("class_mass", ())))  # runs saved before it: even
      self.guide_kind = config.guide.get("target", "hybrid")  # runs saved before 'target': hybrid
      self.guide_batch = config.guide.get("batch", 0)  # runs saved before 'batch': all fakes
      # runs saved before 'blur_sigma' blurred by the default range
      self.guide_blur_sigma = tuple(config.guide.get("blur_sigma", diffaugment.BLUR_SIGMA))
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
        # fakes are i.i.d., so the first guide.batch of them are a random subset
        guided = fake[:self.guide_batch] if self.guide_batch else fake
        extra["g_guide_ce"] = guide_term.guide_loss(
            self.guide, guided, jax.random.fold_in(g_key, GUIDE_AUGMENT_STREAM),
            self.config.guide.augment, self.guide_target, self.guide_kind,
            self.guide_blur_sigma)
        total = total + self.guide_weight * extra["g_guide_ce"]
      return total, (per_class, new_g_state, extra)

    (g_total, (g_per_class, g_model_state, g_extra)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    metrics = dict(d_metrics, g_loss=g_per_class, g_loss_total=g_total,
                   g_grad_norm=optax.tree.norm(g_grads), **g_extra)
    return self._next_state(state, g_grads, g_model_state, d_carry), metrics
