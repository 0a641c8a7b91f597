"""The class-conditional GAN: G(z, y) with conditional batch norm, a projection discriminator.

Miyato & Koyama 2018: the discriminator is D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, so the
label enters as an inner product with the image features, and the generator's batch norms take
a per-class gain and bias (`models.sngan_resnet`, `num_classes` > 0). Batches are labelled
({'image', 'label'}, `data.sampler='labelled'`, uniform over the images of `data.classes`); fake
labels are drawn uniformly. The recipe fields (loss, n_disc, Adam schedule, EMA, DiffAugment,
gradient penalty) mean what they mean for JointGAN (`families.gan_recipe.gan_config`).

It generates from a prior (labels i mod K for the i-th latent, so any N samples are class
balanced) and conditionally (`generate_conditional`, `sample --class=horse`); its picture has
one row per class.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax import imaging
from pegasus_jax.config.recipes import use_sngan_recipe
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.families.gan_recipe import (GANRecipe, GANState, build_discriminator_kwargs,
                                             build_generator, check_gan_config, gan_config)
from pegasus_jax.gan import losses, regularizers
from pegasus_jax.models import sngan_resnet
from pegasus_jax.models.flax_variables import apply_with_model_state

PyTree = Any
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def cgan_config() -> ml_collections.ConfigDict:
  """The conditional GAN's field set: the GAN fields, labelled batches, ResNet networks."""
  config = use_sngan_recipe(gan_config())
  config.family = ConditionalGAN.name
  config.data.sampler = "labelled"
  config.data.classes = CIFAR10_CLASSES
  return config


class ConditionalGAN(GANRecipe):
  """Family 'cgan': one generator and one projection discriminator over K classes."""

  name = "cgan"
  default_config = staticmethod(cgan_config)

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    check_gan_config(config)
    if config.data.sampler != "labelled":
      raise ConfigError(f"config.data.sampler={config.data.sampler!r}: the conditional GAN "
                        "learns from labelled batches; use 'labelled'")
    if config.model.arch != "resnet":
      raise ConfigError(f"config.model.arch={config.model.arch!r}: the conditional GAN's "
                        "conditional batch norm and projection discriminator are the ResNet "
                        "networks'; use 'resnet'")
    if config.model.d_arch != "default":
      raise ConfigError(f"config.model.d_arch={config.model.d_arch!r}: the conditional GAN has "
                        "only the ResNet projection discriminator; use 'default'")
    if len(config.data.classes) < 2:
      raise ConfigError("config.data.classes: a conditional GAN needs at least 2 classes")
    if config.get("g_aggregate", "sum") != "sum":
      raise ConfigError(f"config.g_aggregate={config.g_aggregate!r}: the conditional GAN has "
                        "one discriminator loss per sample; the aggregation is JointGAN's")
    if config.get("guide") and config.guide.weight:
      raise ConfigError(f"config.guide.weight={config.guide.weight}: the guide term is "
                        "JointGAN's (a conditional G is asked for one class per sample)")

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    super().__init__(config, info)
    model = config.model
    self.generator = build_generator(model, self.image_shape, self.num_classes,
                                     self.compute_dtype)
    self.discriminator = sngan_resnet.Discriminator(
        num_classes=self.num_classes,
        **build_discriminator_kwargs(model, self.image_shape, self.compute_dtype))
    self._conditional_jit = jax.jit(self.generate_conditional)

  def data_spec(self) -> dict[str, FieldSpec]:
    n = self.examples_per_step
    return {"image": FieldSpec((n,) + self.image_shape, "float32"),
            "label": FieldSpec((n,), "int32")}

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> GANState:
    g_key, d_key, train_key = jax.random.split(rng, 3)
    labels = jnp.zeros((1,), jnp.int32)
    g_vars = self.generator.init(g_key, jnp.zeros((1, self.z_dim)), labels, train=False)
    d_vars = self.discriminator.init(d_key, jnp.zeros((1,) + self.image_shape), False, False,
                                     labels=labels)
    return self._initial_state(train_key, g_vars, d_vars)

  # -- sampling -------------------------------------------------------------------------------
  def generate_conditional(self, state: GANState, latents: jax.Array, labels: jax.Array
                           ) -> jax.Array:
    return self.generator.apply({"params": state.g_ema_params, **state.g_model_state},
                                latents, labels, train=False)

  def generate(self, state: GANState, latents: jax.Array) -> jax.Array:
    """Latent i gets class i mod K: any number of samples is (nearly) class balanced."""
    labels = jnp.arange(latents.shape[0], dtype=jnp.int32) % self.num_classes
    return self.generate_conditional(state, latents, labels)

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]
                    ) -> tuple[jax.Array, jax.Array]:
    """Row k of the grid is class k: ceil(num / K) latents, shared by every row."""
    per_class = max(1, -(-num // self.num_classes))
    z = jnp.tile(self.latents(rng, per_class), (self.num_classes, 1))
    labels = jnp.repeat(jnp.arange(self.num_classes, dtype=jnp.int32), per_class)
    return z, labels

  def visuals(self, state: GANState, fixed: tuple[jax.Array, jax.Array]) -> Visuals:
    """'class_rows': one row per class (in data.classes order), the same latents in each column."""
    z, labels = fixed
    images = np.asarray(self._conditional_jit(state, z, labels))
    return {"class_rows": imaging.image_grid(images, columns=len(z) // self.num_classes)}

  # -- training -------------------------------------------------------------------------------
  def _d_apply(self, params, model_state, images, labels, update_stats: bool):
    return apply_with_model_state(self.discriminator, params, model_state, images,
                                  update_stats, True, labels=labels)

  def _generate_train(self, g_params, g_model_state, z, labels):
    return self.generator.apply({"params": g_params, **g_model_state}, z, labels, train=True,
                                mutable=["batch_stats"])

  def train_step(self, state: GANState, batch: dict[str, jax.Array]) -> tuple[GANState, Metrics]:
    """n_disc updates of D on (image, label) against (G(z, y), y), then one G update.

    D step j uses examples j, j + n_disc, ... so the batch axis keeps its sharding.
    """
    n_disc, b = self.n_disc, batch["image"].shape[0] // self.n_disc
    images = jnp.moveaxis(batch["image"].reshape((b, n_disc) + self.image_shape), 1, 0)
    labels = jnp.moveaxis(batch["label"].reshape(b, n_disc), 1, 0)
    d_keys, g_key = self._step_keys(state)

    def d_update(carry, inputs):
      d_params, d_model_state, d_opt_state = carry
      real, real_labels, step_key = inputs
      z_key, y_key, augment_key, gp_key = jax.random.split(step_key, 4)
      z = jax.random.normal(z_key, (b, self.z_dim))
      fake_labels = jax.random.randint(y_key, (b,), 0, self.num_classes)
      fake, _ = self._generate_train(state.g_params, state.g_model_state, z, fake_labels)
      fake = jax.lax.stop_gradient(fake)

      def loss_fn(params):
        both = jnp.concatenate([real, fake])
        if self.policy:
          both = self._augment(augment_key, both)
        logits, new_model_state = self._d_apply(
            params, d_model_state, both, jnp.concatenate([real_labels, fake_labels]), True)
        real_logits, fake_logits = logits[:b], logits[b:]
        loss = losses.discriminator_loss(self.loss, real_logits, fake_logits)
        extra = {}
        if self.gp_weight:
          # The penalty at an interpolate of a real and a fake image, judged with the real label.
          critic = lambda x: self._d_apply(params, new_model_state, x, real_labels, False)[0]
          penalty, norms = regularizers.gradient_penalty(critic, real, fake, gp_key)
          extra = {"gradient_penalty": penalty, "critic_grad_norm": jnp.mean(norms)}
          loss = loss + self.gp_weight * penalty
        return loss, (new_model_state, real_logits, fake_logits, extra)

      (loss, (new_model_state, real_logits, fake_logits, extra)), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(d_params)
      updates, d_opt_state = self.d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = {"d_loss": loss, "d_grad_norm": optax.tree.norm(grads),
                 **losses.critic_metrics(self.loss, real_logits, fake_logits), **extra}
      return (d_params, new_model_state, d_opt_state), metrics

    d_carry, d_metrics = self._discriminator_updates(state, d_update, (images, labels, d_keys))
    d_params, d_model_state, _ = d_carry

    z_key, y_key, augment_key = jax.random.split(g_key, 3)
    z = jax.random.normal(z_key, (b, self.z_dim))
    fake_labels = jax.random.randint(y_key, (b,), 0, self.num_classes)

    def g_loss_fn(g_params):
      fake, new_g_state = self._generate_train(g_params, state.g_model_state, z, fake_labels)
      if self.policy:
        fake = self._augment(augment_key, fake)
      logits, _ = self._d_apply(d_params, d_model_state, fake, fake_labels, False)
      return losses.generator_loss(self.loss, logits), new_g_state

    (g_loss, g_model_state), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        state.g_params)
    new_state = self._next_state(state, g_grads, g_model_state, d_carry)
    return new_state, dict(d_metrics, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
