"""BiGAN: an encoder E learned adversarially beside the generator G (Donahue et al. 2017).

The joint discriminator D(x, z) sees pairs: a real image with its encoding, (x, E(x)), is
"real"; a sample with its latent, (G(z), z), is "fake". E and G are trained together to make D
mistake one kind of pair for the other; at the optimum E inverts G, so E(x) becomes a
representation of x learned without labels. The write-up 004 judged it with a linear probe on
E(x) (`evaluators.linear_probe`), against the same probe on a randomly initialised encoder.

Recipe (the write-up's, on the paper's MNIST networks, `models.bigan`): z of 50 dimensions from
N(0, I) (the paper draws it uniformly from [-1, 1]); Adam(2e-4, 0.5, 0.999) for D and for E+G
together, with L2 weight decay on every parameter added to the gradient (PyTorch's Adam
`weight_decay`, which the write-up used) and the learning rate decayed linearly to 0 over the
run. `loss`: 'nonsaturating' (each player's flipped-label cross-entropy, what the authors' code
trains) or 'minimax' (the paper's value function, E and G maximise D's loss).

Data: one stream of unlabelled images ({'real': (1, B, H, W, C)}, the class-balanced sampler
with data.classes=('all',)). The labels never reach the train step; only the probe reads them.
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
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.gan import losses, training
from pegasus_jax.models import bigan as nets
from pegasus_jax.models.flax_variables import apply_with_model_state, split_variables
from pegasus_jax.run import precision

PyTree = Any
LOSSES = ("nonsaturating", "minimax")
RECONSTRUCTION_COLUMNS = 10  # originals and reconstructions alternate in rows of this many


@flax.struct.dataclass
class BiGANState:
  """Everything a run needs to continue bit-for-bit.

  E and G are one player (one loss, one optimiser), so their parameters live in one tree
  {'encoder', 'generator'}; `eg_model_state` holds their batch-norm statistics the same way.
  """

  step: jax.Array
  rng: jax.Array
  eg_params: PyTree
  eg_model_state: PyTree
  eg_opt_state: PyTree
  d_params: PyTree
  d_model_state: PyTree
  d_opt_state: PyTree


def bigan_config() -> ml_collections.ConfigDict:
  """The BiGAN field set: loop and data fields (MNIST, unlabelled) plus networks and Adam."""
  config = base_config()
  config.family = BiGAN.name
  config.batch_size = 128
  config.total_steps = 187_200  # the paper's 400 epochs of MNIST's 60k images at batch 128
  config.loss = "nonsaturating"  # 'nonsaturating' | 'minimax'
  config.num_reconstructions = 20  # real images of step 0 shown beside G(E(x))

  config.data.name = "mnist"
  config.data.classes = ("all",)  # one unlabelled stream
  config.data.image_size = 28
  config.data.channels = 1
  config.data.random_flip = False  # a mirrored digit is not a digit

  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 50
  config.model.hidden = 1024  # units of every hidden layer of E, G and D
  config.model.leaky_slope = 0.2  # E and D
  config.model.d_norm = "batch"  # 'batch' (the paper) | 'none': D's second layer
  config.model.init = "pytorch"  # 'pytorch' (the write-up) | 'normal' (the paper's N(0, 0.02))

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.lr = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.optimizer.weight_decay = 2.5e-5  # L2 on all parameters, added to the gradient
  config.optimizer.schedule = "linear"  # 'linear' (to 0 at the last step) | 'constant'

  # The linear probe on frozen E(x) (with config.eval_every > 0); see evaluators/linear_probe.py.
  config.evals.linear_probe = ml_collections.ConfigDict(dict(
      type="linear_probe", train_split="train", test_split="test", num_train=0, num_test=0,
      classes=tuple(range(10)), steps=500, learning_rate=0.05, random_encoder_seed=0))
  return config


FIELD_CHECKS: dict[str, checks.Check] = {
    "loss": checks.one_of(*LOSSES),
    "num_reconstructions": checks.positive_int,
    "model.z_dim": checks.positive_int,
    "model.hidden": checks.positive_int,
    "model.leaky_slope": checks.non_negative_float,
    "model.d_norm": checks.one_of(*nets.DISCRIMINATOR_NORMS),
    "model.init": checks.one_of(*nets.INITS),
    "optimizer.lr": checks.positive_float,
    "optimizer.b1": checks.unit_interval,
    "optimizer.b2": checks.unit_interval,
    "optimizer.weight_decay": checks.non_negative_float,
    "optimizer.schedule": checks.one_of(*training.SCHEDULES),
}


def check_bigan_config(config: ml_collections.ConfigDict) -> None:
  """The BiGAN fields' checks, and the one data shape it learns from."""
  checks.run_checks(flatten_config(config), FIELD_CHECKS)
  if config.data.sampler != "class_balanced":
    raise ConfigError(f"config.data.sampler={config.data.sampler!r}: BiGAN learns from one "
                      "stream of unlabelled images; use 'class_balanced' with "
                      "data.classes=('all',)")
  if len(config.data.classes) != 1:
    raise ConfigError(f"config.data.classes={tuple(config.data.classes)!r}: BiGAN learns from "
                      "one stream of images; use ('all',), one class, or a union such as "
                      "('3+5',)")


class BiGAN:
  """Family 'bigan': encoder, generator and joint discriminator; encodes and generates."""

  name = "bigan"
  signature_fields = ("data.name", "data.classes", "data.image_size", "data.channels", "model")
  default_config = staticmethod(bigan_config)
  check_config = staticmethod(check_bigan_config)

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    model = config.model
    self.config = config
    self.class_labels = tuple(info.labels)
    self.image_shape = tuple(info.example_shapes["image"])
    self.examples_per_step = config.batch_size
    self.z_dim = model.z_dim
    self.loss = config.loss
    self.num_reconstructions = config.num_reconstructions
    dtype = precision.compute_dtype(config)  # the networks' activations; parameters: float32
    self.encoder = nets.Encoder(z_dim=model.z_dim, hidden=model.hidden,
                                leaky_slope=model.leaky_slope, initializer=model.init,
                                dtype=dtype)
    self.generator = nets.Generator(image_shape=self.image_shape, hidden=model.hidden,
                                    initializer=model.init, dtype=dtype)
    self.discriminator = nets.JointDiscriminator(hidden=model.hidden,
                                                 leaky_slope=model.leaky_slope,
                                                 norm=model.d_norm, initializer=model.init,
                                                 dtype=dtype)
    self.eg_tx = training.adam_with_l2(config.optimizer, config.total_steps)
    self.d_tx = training.adam_with_l2(config.optimizer, config.total_steps)
    self._generate_jit = jax.jit(self.generate)
    self._reconstruct_jit = jax.jit(lambda state, images: self.generate(
        state, self.encode(state, images)))

  def data_spec(self) -> dict[str, FieldSpec]:
    return {"real": FieldSpec((1, self.examples_per_step) + self.image_shape, "float32",
                              batch_axis=1)}

  # -- state ----------------------------------------------------------------------------------
  def init(self, rng: jax.Array) -> BiGANState:
    e_key, g_key, d_key, train_key = jax.random.split(rng, 4)
    images = jnp.zeros((1,) + self.image_shape)
    codes = jnp.zeros((1, self.z_dim))
    e_params, e_state = split_variables(self.encoder.init(e_key, images, train=False))
    g_params, g_state = split_variables(self.generator.init(g_key, codes, train=False))
    d_params, d_state = split_variables(
        self.discriminator.init(d_key, images, codes, train=False))
    eg_params = {"encoder": e_params, "generator": g_params}
    return BiGANState(
        step=jnp.zeros((), jnp.int32), rng=train_key,
        eg_params=eg_params, eg_model_state={"encoder": e_state, "generator": g_state},
        eg_opt_state=self.eg_tx.init(eg_params),
        d_params=d_params, d_model_state=d_state, d_opt_state=self.d_tx.init(d_params))

  # -- capabilities: Encodes, GeneratesFromPrior ----------------------------------------------
  def encode(self, state: BiGANState, images: jax.Array) -> jax.Array:
    """E(x) (N, z_dim) in evaluation mode (batch norm with its running statistics)."""
    return self.encoder.apply({"params": state.eg_params["encoder"],
                               **state.eg_model_state["encoder"]}, images, train=False)

  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    return jax.random.normal(rng, (num, self.z_dim))

  def generate(self, state: BiGANState, latents: jax.Array) -> jax.Array:
    """G(z) in [-1, 1] in evaluation mode."""
    return self.generator.apply({"params": state.eg_params["generator"],
                                 **state.eg_model_state["generator"]}, latents, train=False)

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]
                    ) -> tuple[jax.Array, np.ndarray]:
    """`num` fixed latents, and the first `num_reconstructions` real images of step 0.

    The loop hands over the step-0 batch (a seeded shuffle of the training split), not the
    split in file order, so these are the first images the run trains on.
    """
    originals = np.asarray(batch["real"][0][:self.num_reconstructions], np.float32)
    return self.latents(rng, num), originals

  def visuals(self, state: BiGANState, fixed: tuple[jax.Array, np.ndarray]) -> Visuals:
    """'samples': G(z) of the fixed latents; 'reconstructions': rows of originals x, each
    followed by the row of their G(E(x))."""
    latents, originals = fixed
    samples = np.asarray(self._generate_jit(state, latents))
    rebuilt = np.asarray(self._reconstruct_jit(state, jnp.asarray(originals)))
    columns = min(RECONSTRUCTION_COLUMNS, len(originals))
    rows = []
    for start in range(0, len(originals), columns):
      for images in (originals, rebuilt):
        row = images[start:start + columns]
        blank = np.ones((columns - len(row),) + row.shape[1:], np.float32)  # white filler
        rows.append(np.concatenate([row, blank]))
    return {"samples": imaging.image_grid(samples),
            "reconstructions": imaging.image_grid(np.concatenate(rows), columns=columns)}

  # -- training -------------------------------------------------------------------------------
  def _encode_train(self, eg_params: PyTree, eg_model_state: PyTree, images: jax.Array):
    return self.encoder.apply({"params": eg_params["encoder"], **eg_model_state["encoder"]},
                              images, train=True, mutable=["batch_stats"])

  def _generate_train(self, eg_params: PyTree, eg_model_state: PyTree, z: jax.Array):
    return self.generator.apply(
        {"params": eg_params["generator"], **eg_model_state["generator"]}, z, train=True,
        mutable=["batch_stats"])

  def _d_apply(self, d_params: PyTree, d_model_state: PyTree, images: jax.Array,
               codes: jax.Array) -> tuple[jax.Array, PyTree]:
    """D's logits (N,) for the pairs (images[i], codes[i]), batch norm on this batch."""
    return apply_with_model_state(self.discriminator, d_params, d_model_state, images, codes,
                                  train=True)

  def joint_logits(self, d_params: PyTree, d_model_state: PyTree,
                   real_pair: tuple[jax.Array, jax.Array], fake_pair: tuple[jax.Array, jax.Array]
                   ) -> tuple[jax.Array, jax.Array, PyTree]:
    """D on the matched real pairs (x, E(x)) and the fake pairs (G(z), z), as two batches.

    Two batches, as in the authors' code: with batch norm, each kind is normalised on its own,
    and the E/G step sees D exactly as D's own step does.
    """
    real_logits, d_model_state = self._d_apply(d_params, d_model_state, *real_pair)
    fake_logits, d_model_state = self._d_apply(d_params, d_model_state, *fake_pair)
    return real_logits, fake_logits, d_model_state

  def train_step(self, state: BiGANState, batch: Mapping[str, jax.Array]
                 ) -> tuple[BiGANState, Metrics]:
    """One D update on (x, E(x)) vs (G(z), z), then one joint E+G update against the new D."""
    real = batch["real"][0]
    b = real.shape[0]
    key = jax.random.fold_in(state.rng, state.step)
    d_z = jax.random.normal(jax.random.fold_in(key, 0), (b, self.z_dim))
    eg_z = jax.random.normal(jax.random.fold_in(key, 1), (b, self.z_dim))

    codes, _ = self._encode_train(state.eg_params, state.eg_model_state, real)
    fakes, _ = self._generate_train(state.eg_params, state.eg_model_state, d_z)
    codes, fakes = jax.lax.stop_gradient((codes, fakes))

    def d_loss_fn(d_params):
      real_logits, fake_logits, new_d_state = self.joint_logits(
          d_params, state.d_model_state, (real, codes), (fakes, d_z))
      loss = losses.discriminator_loss(self.loss, real_logits, fake_logits)
      return loss, (new_d_state, real_logits, fake_logits)

    (d_loss, (d_model_state, real_logits, fake_logits)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def eg_loss_fn(eg_params):
      codes, e_state = self._encode_train(eg_params, state.eg_model_state, real)
      fakes, g_state = self._generate_train(eg_params, state.eg_model_state, eg_z)
      real_logits, fake_logits, _ = self.joint_logits(d_params, d_model_state, (real, codes),
                                                      (fakes, eg_z))
      # E plays G's role with the labels flipped: it wants D to call (x, E(x)) fake.
      e_loss = losses.generator_loss(self.loss, -real_logits)
      g_loss = losses.generator_loss(self.loss, fake_logits)
      rebuilt, _ = self._generate_train(eg_params, state.eg_model_state,
                                        jax.lax.stop_gradient(codes))
      reconstruction = jnp.mean(jnp.square(jax.lax.stop_gradient(rebuilt) - real))
      new_state = {"encoder": e_state, "generator": g_state}
      return e_loss + g_loss, (e_loss, g_loss, new_state, reconstruction)

    (eg_loss, (e_loss, g_loss, eg_model_state, reconstruction)), eg_grads = (
        jax.value_and_grad(eg_loss_fn, has_aux=True)(state.eg_params))
    eg_updates, eg_opt_state = self.eg_tx.update(eg_grads, state.eg_opt_state, state.eg_params)
    eg_params = optax.apply_updates(state.eg_params, eg_updates)

    new_state = state.replace(
        step=state.step + 1, eg_params=eg_params, eg_model_state=eg_model_state,
        eg_opt_state=eg_opt_state, d_params=d_params, d_model_state=d_model_state,
        d_opt_state=d_opt_state)
    metrics = {"d_loss": d_loss, "e_loss": e_loss, "g_loss": g_loss, "eg_loss": eg_loss,
               "d_grad_norm": optax.tree.norm(d_grads),
               "eg_grad_norm": optax.tree.norm(eg_grads),
               "reconstruction_mse": reconstruction,
               **losses.critic_metrics(self.loss, real_logits, fake_logits)}
    return new_state, metrics
