"""The 1-D toy GAN of write-up 004: why the non-saturating generator loss exists.

Real data are scalars from a seeded mixture of Gaussians (`data.name='gaussian_mixture'`,
`data.sampler='synthetic'`, batches {'x': (B, 1)}); the generator and the discriminator are
MLPs of three dense layers (two hidden layers of `model.hidden` = 128 units with LeakyReLU 0.2,
as the write-up's course solution used). The latent is `model.z_dim`-dimensional N(0, I); the
default is 1: a 1-D data set needs no more, and with z of dimension 1 the generator is a plain
curve z -> x that must climb steeply between the modes; the histogram shows where it flattens
(spikes) and where it stretches (gaps).

`loss` picks the generator's loss (the discriminator always minimises the binary cross-entropy):

- 'minimax': G minimises E[log(1 - D(G(z)))], the original game. Its gradient w.r.t. the
  logit l of a fake sample is -sigmoid(l) = -D(G(z)): where D confidently rejects a sample
  (D ~ 0), G learns almost nothing from it -- the loss saturates;
- 'nonsaturating': G minimises -E[log D(G(z))]; the gradient is -(1 - D(G(z))), largest exactly
  where D rejects.

One D update then one G update per step (fresh z for each), Adam. Metrics: d_loss, g_loss,
d_real, d_fake (mean D of the real batch and of G's samples), and both gradient norms (a
saturating G shows g_grad_norm near 0 while d_fake is near 0). The picture `distributions`
(matplotlib, at every sample step) puts the real histogram, the generated histogram and the
discriminator's D(x) on one axis. W1 and mode coverage come from the 'toy_distance' evaluator
(`pegasus_jax.evaluation.evaluators.toy_distance`), which needs `latents` and `sample_points`.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pegasus_jax.config import checks
from pegasus_jax.config.defaults import base_config, flatten_config
from pegasus_jax.data.spec import FieldSpec
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import DataInfo, Metrics, Visuals
from pegasus_jax.gan import distribution_figure, losses
from pegasus_jax.models import mlp
from pegasus_jax.run import precision

PyTree = Any
TOY_LOSSES = ("nonsaturating", "minimax")  # the two losses of the write-up's lesson
FIGURE_NAME = "distributions"
# Scalars through 128-unit MLPs: nothing for bf16 to speed up, and D(x)'s curve and W1 are
# the lesson, so the family computes in float32 only.
BF16_REFUSAL = "1-D toy MLPs have no bf16 path: nothing to gain"


@flax.struct.dataclass
class Toy1DState:
  """Both players' parameters and Adam states, the step and the run's RNG key."""

  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  g_opt_state: PyTree
  d_params: PyTree
  d_opt_state: PyTree


def toy1d_config() -> ml_collections.ConfigDict:
  """The toy GAN's whole field set: a two-mode mixture, MLPs, Adam, W1 evaluation."""
  config = base_config()
  config.family = Toy1DGAN.name
  config.total_steps = 4_000
  config.batch_size = 100
  config.log_every = 50
  # An "epoch" here is 20,000 examples (the size of the course's fixed data set), 200 steps at
  # batch 100: the picture after epoch 1 is the one at step 200.
  config.sample_every = 200
  config.checkpoint_every = 1_000
  config.keep_checkpoints = 2
  config.num_sample_images = 5_000  # generated (and real) points in each histogram
  config.data.name = "gaussian_mixture"
  config.data.sampler = "synthetic"
  config.data.classes = ("all",)
  config.data.random_flip = False
  config.data.mixture_means = (-2.0, 2.0)
  config.data.mixture_stds = (0.5, 0.5)
  config.data.mixture_weights = (0.5, 0.5)

  config.loss = "nonsaturating"  # generator loss: 'nonsaturating' | 'minimax'
  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 1
  config.model.hidden = 128
  config.model.leaky_slope = 0.2
  # D learns 5x faster than G: it stays near its optimum, so its D(x) curve is worth drawing,
  # and it is the setting in which minimax saturation can show (D ahead of G, write-up 004).
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 1e-3
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999

  # W1 to the real data and mode coverage (pegasus_jax/evaluation/evaluators/toy_distance.py).
  config.eval_every = 200
  config.evals.toy_distance = ml_collections.ConfigDict(
      dict(type="toy_distance", num_samples=10_000, radius_stds=2.0, min_share=0.1))
  return config


FIELD_CHECKS: dict[str, checks.Check] = {
    "loss": checks.one_of(*TOY_LOSSES),
    "data.name": checks.one_of("gaussian_mixture"),
    "data.sampler": checks.one_of("synthetic"),
    "data.mixture_means": checks.number_tuple,
    "data.mixture_stds": checks.number_tuple,
    "data.mixture_weights": checks.number_tuple,
    "model.z_dim": checks.positive_int,
    "model.hidden": checks.positive_int,
    "model.leaky_slope": checks.non_negative_float,
    "optimizer.g_lr": checks.positive_float,
    "optimizer.d_lr": checks.positive_float,
    "optimizer.b1": checks.unit_interval,
    "optimizer.b2": checks.unit_interval,
}


class Toy1DGAN:
  """Family 'toy1d': an MLP generator of scalars against an MLP discriminator."""

  name = "toy1d"
  signature_fields = ("data.name", "data.mixture_means", "data.mixture_stds",
                      "data.mixture_weights", "model")
  default_config = staticmethod(toy1d_config)

  @staticmethod
  def check_config(config: ml_collections.ConfigDict) -> None:
    checks.run_checks(flatten_config(config), FIELD_CHECKS)
    data = config.data
    lengths = {len(data.mixture_means), len(data.mixture_stds), len(data.mixture_weights)}
    if len(lengths) != 1:
      raise ConfigError("config.data.mixture_means, mixture_stds and mixture_weights must have "
                        f"equal lengths; got {len(data.mixture_means)}, "
                        f"{len(data.mixture_stds)}, {len(data.mixture_weights)}")
    if min(data.mixture_stds) <= 0:
      raise ConfigError(f"config.data.mixture_stds={tuple(data.mixture_stds)} must all be > 0")
    precision.require_float32(config, BF16_REFUSAL)

  def __init__(self, config: ml_collections.ConfigDict, info: DataInfo):
    precision.require_float32(config, BF16_REFUSAL)
    if tuple(info.example_shapes.get("x", ())) != (1,):
      raise ConfigError(f"family 'toy1d' learns scalars {{'x': (1,)}}; the data gives "
                        f"{dict(info.example_shapes)} (use config.data.name='gaussian_mixture')")
    self.config = config
    self.class_labels = tuple(info.labels)
    self.loss = config.loss
    self.z_dim = config.model.z_dim
    self.examples_per_step = config.batch_size
    self.generator = mlp.MLP(config.model.hidden, 1, config.model.leaky_slope)
    self.discriminator = mlp.MLP(config.model.hidden, 1, config.model.leaky_slope)
    opt = config.optimizer
    self.g_tx = optax.adam(opt.g_lr, b1=opt.b1, b2=opt.b2)
    self.d_tx = optax.adam(opt.d_lr, b1=opt.b1, b2=opt.b2)
    # The figure's x range, fixed for the run so that pictures of different steps line up.
    means, stds = np.asarray(config.data.mixture_means), np.asarray(config.data.mixture_stds)
    self.plot_range = (float(np.min(means - 4 * stds)), float(np.max(means + 4 * stds)))
    self._figure_data_jit = jax.jit(self._figure_data)  # one compile for the whole picture

  def data_spec(self) -> dict[str, FieldSpec]:
    return {"x": FieldSpec((self.examples_per_step, 1), "float32")}

  def init(self, rng: jax.Array) -> Toy1DState:
    g_key, d_key, train_key = jax.random.split(rng, 3)
    g_params = self.generator.init(g_key, jnp.zeros((1, self.z_dim)))["params"]
    d_params = self.discriminator.init(d_key, jnp.zeros((1, 1)))["params"]
    return Toy1DState(step=jnp.zeros((), jnp.int32), rng=train_key,
                      g_params=g_params, g_opt_state=self.g_tx.init(g_params),
                      d_params=d_params, d_opt_state=self.d_tx.init(d_params))

  # -- sampling (what the 'toy_distance' evaluator and the figure use) ------------------------
  def latents(self, rng: jax.Array, num: int) -> jax.Array:
    return jax.random.normal(rng, (num, self.z_dim))

  def sample_points(self, state: Toy1DState, latents: jax.Array) -> jax.Array:
    """Generated scalars (N, 1) for latents (N, z_dim)."""
    return self.generator.apply({"params": state.g_params}, latents)

  def discriminator_logits(self, d_params: PyTree, points: jax.Array) -> jax.Array:
    """D's logit of P(real) for points (N, 1): (N,)."""
    return self.discriminator.apply({"params": d_params}, points)[:, 0]

  def discriminator_probability(self, state: Toy1DState, points: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(self.discriminator_logits(state.d_params, points))

  def generator_loss(self, d_params: PyTree, fake_points: jax.Array) -> jax.Array:
    """The configured generator loss of `fake_points` (N, 1) against the discriminator."""
    return losses.generator_loss(self.loss, self.discriminator_logits(d_params, fake_points))

  # -- training -------------------------------------------------------------------------------
  def train_step(self, state: Toy1DState, batch: Mapping[str, jax.Array]
                 ) -> tuple[Toy1DState, Metrics]:
    """One D update on (real batch, G(z)), then one G update against the updated D."""
    real = batch["x"]
    num = real.shape[0]
    key = jax.random.fold_in(state.rng, state.step)
    d_z = self.latents(jax.random.fold_in(key, 0), num)
    g_z = self.latents(jax.random.fold_in(key, 1), num)
    fake = jax.lax.stop_gradient(self.sample_points(state, d_z))

    def d_loss_fn(d_params):
      real_logits = self.discriminator_logits(d_params, real)
      fake_logits = self.discriminator_logits(d_params, fake)
      return (losses.discriminator_loss(self.loss, real_logits, fake_logits),
              (real_logits, fake_logits))

    (d_loss, (real_logits, fake_logits)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def g_loss_fn(g_params):
      return self.generator_loss(d_params, self.generator.apply({"params": g_params}, g_z))

    g_loss, g_grads = jax.value_and_grad(g_loss_fn)(state.g_params)
    g_updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    new_state = state.replace(step=state.step + 1, g_params=g_params, g_opt_state=g_opt_state,
                              d_params=d_params, d_opt_state=d_opt_state)
    return new_state, {"d_loss": d_loss, "g_loss": g_loss,
                       **losses.critic_metrics(self.loss, real_logits, fake_logits),
                       "d_grad_norm": optax.tree.norm(d_grads),
                       "g_grad_norm": optax.tree.norm(g_grads)}

  # -- pictures -------------------------------------------------------------------------------
  def visual_inputs(self, rng: jax.Array, num: int, batch: Mapping[str, np.ndarray]
                    ) -> tuple[jax.Array, np.ndarray]:
    """`num` fixed latents and `num` real points (one seeded draw, the same for every picture)."""
    # Imported here, not at the top: only the pictures need the mixture's sampler.
    from pegasus_jax.data.synthetic import GaussianMixture  # pylint: disable=g-import-not-at-top
    latent_key, real_key = jax.random.split(rng)
    data = self.config.data
    mixture = GaussianMixture(data.mixture_means, data.mixture_stds, data.mixture_weights)
    real_rng = np.random.default_rng(np.asarray(jax.random.bits(real_key, (4,), jnp.uint32)))
    return self.latents(latent_key, num), mixture.sample(real_rng, num)[:, 0]

  def _figure_data(self, state: Toy1DState, latents: jax.Array, grid: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
    """Generated points (N,) and D(x) on the grid (M,)."""
    return (self.sample_points(state, latents)[:, 0],
            self.discriminator_probability(state, grid[:, None]))

  def visuals(self, state: Toy1DState, fixed: tuple[jax.Array, np.ndarray]) -> Visuals:
    """'distributions': real and generated histograms and D(x), at this state's step."""
    latents, real = fixed
    grid = np.linspace(*self.plot_range, 401, dtype=np.float32)
    fake, d_curve = jax.device_get(self._figure_data_jit(state, latents, grid))
    title = f"{self.loss} loss, step {int(state.step)}"
    return {FIGURE_NAME: distribution_figure.render_distributions(
        real, fake, grid, d_curve, self.plot_range, title)}
