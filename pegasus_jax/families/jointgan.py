"""JointGAN: one generator against K class discriminators (plain DCGAN is the case K = 1).

Discriminator D_c is trained on real images of class c against the generator's samples and
minimises its own loss (maximises the GAN value L_c); the generator minimises sum_c L_c, which
pulls its samples to where the class distributions overlap -- with classes horse and bird, a
pegasus. The K discriminators are one `nn.vmap`-stacked module applied to all classes at once.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from pegasus_jax import losses
from pegasus_jax.families.base import Metrics
from pegasus_jax.models import dcgan

PyTree = Any


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


def _per_class_norm(tree: PyTree, num_classes: int) -> jax.Array:
  """L2 norm of a stacked pytree, one value per leading-axis entry: (K,)."""
  squares = [jnp.sum(jnp.square(leaf.reshape(num_classes, -1)), axis=1)
             for leaf in jax.tree_util.tree_leaves(tree)]
  return jnp.sqrt(sum(squares))


def _adam(lr: float, opt: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.adam(lr, b1=opt.b1, b2=opt.b2)


class JointGAN:
  """The JointGAN family (registered as 'jointgan' and, for K = 1, 'dcgan')."""

  def __init__(self, config: ml_collections.ConfigDict, class_labels: tuple[str, ...]):
    model = config.model
    self.class_labels = tuple(class_labels)
    self.num_classes = len(class_labels)
    self.loss = config.loss
    self.n_disc = config.n_disc
    self.batch_size = config.batch_size
    self.z_dim = model.z_dim
    self.image_shape = (model.image_size, model.image_size, model.channels)
    self.generator = dcgan.Generator(
        image_size=model.image_size, width=model.g_width, channels=model.channels,
        activation=model.g_activation, leaky_slope=model.leaky_slope)
    self.discriminators = dcgan.class_discriminators(
        self.num_classes, image_size=model.image_size, width=model.d_width,
        norm=model.d_norm, activation=model.d_activation, leaky_slope=model.leaky_slope)
    self.g_tx = _adam(config.optimizer.g_lr, config.optimizer)
    self.d_tx = _adam(config.optimizer.d_lr, config.optimizer)

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> GANState:
    g_key, d_key, train_key = jax.random.split(rng, 3)
    g_vars = self.generator.init(g_key, jnp.zeros((1, self.z_dim)), train=False)
    d_vars = self.discriminators.init(
        d_key, jnp.zeros((self.num_classes, 1) + self.image_shape), False, False)
    g_params = g_vars["params"]
    d_params = d_vars["params"]
    g_model_state = {k: v for k, v in g_vars.items() if k != "params"}
    d_model_state = {k: v for k, v in d_vars.items() if k != "params"}
    return GANState(
        step=jnp.zeros((), jnp.int32), rng=train_key,
        g_params=g_params, g_model_state=g_model_state, g_opt_state=self.g_tx.init(g_params),
        d_params=d_params, d_model_state=d_model_state, d_opt_state=self.d_tx.init(d_params))

  # -- sampling -------------------------------------------------------------------------------
  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    return jax.random.normal(rng, (num, self.z_dim))

  def generate(self, state: GANState, latents: jax.Array) -> jax.Array:
    return self.generator.apply(
        {"params": state.g_params, **state.g_model_state}, latents, train=False)

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
    variables = {"params": d_params, **d_model_state}
    mutable = list(d_model_state)
    if not mutable:
      return self.discriminators.apply(variables, images, update_stats, True), d_model_state
    return self.discriminators.apply(variables, images, update_stats, True, mutable=mutable)

  def _d_real_fake(self, d_params, d_model_state, real, fake, update_stats: bool):
    """Logits for real (K, B, ...) and shared fake (B, ...) images, and the new model state.

    Without batch norm, one call on [real, fake] per class (one batched computation). With
    batch norm, real and fake are normalised as separate batches, as in the PyTorch DCGAN
    recipe: normalising the mixed batch here but the all-fake batch in the generator's step
    would give D and G different views of the same fakes, and the generator's gradient
    vanishes (seen on CIFAR-10 and Pokemon). The spectral vectors advance once per D step.
    """
    stacked_fake = jnp.broadcast_to(fake[None], (self.num_classes,) + fake.shape)
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
    """n_disc updates of all K discriminators, then one generator update against their sum.

    batch['real']: (K, n_disc * B, H, W, C); D step j uses images j, j + n_disc, ... so the
    batch axis keeps its device sharding when it is split.
    """
    num_classes, n_disc = self.num_classes, self.n_disc
    real = batch["real"]
    b = real.shape[1] // n_disc
    real = real.reshape((num_classes, b, n_disc) + real.shape[2:])
    real = jnp.moveaxis(real, 2, 0)  # (n_disc, K, B, H, W, C)
    key = jax.random.fold_in(state.rng, state.step)
    d_keys = jax.random.split(jax.random.fold_in(key, 0), n_disc)
    g_key = jax.random.fold_in(key, 1)

    def d_update(carry, inputs):
      d_params, d_model_state, d_opt_state = carry
      real_k, z_key = inputs
      z = jax.random.normal(z_key, (b, self.z_dim))
      fake, _ = self._generate_train(state.g_params, state.g_model_state, z)
      fake = jax.lax.stop_gradient(fake)

      def loss_fn(params):
        real_logits, fake_logits, new_model_state = self._d_real_fake(
            params, d_model_state, real_k, fake, True)
        per_class = losses.discriminator_loss(self.loss, real_logits, fake_logits)
        return jnp.sum(per_class), (per_class, new_model_state, real_logits, fake_logits)

      grads, (per_class, new_model_state, real_logits, fake_logits) = jax.grad(
          loss_fn, has_aux=True)(d_params)
      updates, d_opt_state = self.d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = {
          "d_loss": per_class,
          "d_real": jnp.mean(jax.nn.sigmoid(real_logits), axis=1),
          "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits), axis=1),
          "d_grad_norm": _per_class_norm(grads, num_classes),
      }
      return (d_params, new_model_state, d_opt_state), metrics

    (d_params, d_model_state, d_opt_state), d_metrics = jax.lax.scan(
        d_update, (state.d_params, state.d_model_state, state.d_opt_state), (real, d_keys))
    d_metrics = jax.tree_util.tree_map(lambda m: m[-1], d_metrics)

    z = jax.random.normal(g_key, (b, self.z_dim))
    frozen_d_state = d_model_state  # spectral vectors frozen: update_stats=False below

    def g_loss_fn(g_params):
      fake, new_g_state = self._generate_train(g_params, state.g_model_state, z)
      stacked = jnp.broadcast_to(fake[None], (num_classes,) + fake.shape)
      logits, _ = self._d_apply(d_params, frozen_d_state, stacked, False)
      per_class = losses.generator_loss(self.loss, logits)
      return jnp.sum(per_class), (per_class, new_g_state)

    (g_total, (g_per_class, g_model_state)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    g_updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    new_state = state.replace(
        step=state.step + 1, g_params=g_params, g_model_state=g_model_state,
        g_opt_state=g_opt_state, d_params=d_params, d_model_state=d_model_state,
        d_opt_state=d_opt_state)
    metrics = dict(d_metrics, g_loss=g_per_class, g_loss_total=g_total,
                   g_grad_norm=optax.tree.norm(g_grads))
    return new_state, metrics
