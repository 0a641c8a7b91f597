"""config.precision: bfloat16 runs the convolutions and matmuls in bf16 and keeps the rest float32.

Two recipes train for a few steps in each precision from the same initial parameters: JointGAN
(configs/jointgan.py:cpu, K = 2, DCGAN networks with spectral norm) and SN-GAN
(configs/sngan_cifar.py:cpu, the ResNet with PatchConv matmuls, hinge, Adam(0, 0.9)), both with
smaller images, widths and batches so each compiles in seconds. The other families are traced,
not compiled: their jaxprs show where the arithmetic happens, and `jax.eval_shape` gives the
dtypes of the state a step returns.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import image_info
from pegasus_jax import families
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.errors import ConfigError
from pegasus_jax.gan import regularizers
from pegasus_jax.models.dcgan import SPECTRAL_COLLECTION

STEPS = 3
HEAVY_OPS = ("dot_general", "conv_general_dilated")


def _jointgan_config():
  import jointgan  # configs/jointgan.py
  config = jointgan.get_config("cpu")
  config.data.image_size = 8
  config.batch_size = 8
  config.model.g_width = 16
  config.model.d_width = 16
  config.model.z_dim = 16
  return config, ("horse", "bird"), 0


def _sngan_config():
  import sngan_cifar  # configs/sngan_cifar.py: :cpu is shrink_resnet_for_cpu of the recipe
  config = sngan_cifar.get_config("cpu")
  config.data.image_size = 16  # the smallest size the ResNet takes
  config.batch_size = 8
  config.model.g_width = 16
  config.model.d_width = 16
  config.model.z_dim = 16
  # Seed 1: at seed 0 these tiny networks start with every critic value past the hinge margin
  # on random data, so D's first gradient is exactly zero and there is nothing to compare.
  return config, ("all",), 1


RECIPES = {"jointgan": _jointgan_config, "sngan": _sngan_config}


@dataclasses.dataclass
class Run:
  family: Any
  batch: dict[str, jax.Array]
  states: list[Any]  # the initial state, then the state after each step
  metrics: list[dict[str, np.ndarray]]


def _random_batch(family, seed: int = 0) -> dict[str, jax.Array]:
  rng = np.random.default_rng(seed)
  return {name: jnp.asarray(rng.uniform(-1, 1, field.shape), jnp.float32)
          for name, field in family.data_spec().items()}


def _family(recipe: str, precision: str):
  config, labels, seed = RECIPES[recipe]()
  config.precision = precision
  validate_config(config)
  return families.create(config, image_info(labels, config.data.image_size)), seed


@functools.lru_cache(maxsize=None)
def _initial_state(recipe: str):
  """The float32 family's initial state. Parameters and model state are float32 whatever the
  precision, so both runs of a recipe start from it (one init compile, not two)."""
  family, seed = _family(recipe, "float32")
  return jax.jit(family.init)(jax.random.PRNGKey(seed))


@functools.lru_cache(maxsize=None)
def _run(recipe: str, precision: str) -> Run:
  """STEPS jitted steps of `recipe` in `precision` on one fixed random batch (compiled once)."""
  family, _ = _family(recipe, precision)
  batch = _random_batch(family)
  states = [_initial_state(recipe)]
  step = jax.jit(family.train_step)
  metrics = []
  for _ in range(STEPS):
    state, step_metrics = step(states[-1], batch)
    states.append(state)
    metrics.append(jax.device_get(step_metrics))
  return Run(family, batch, states, metrics)


def _flat(tree) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(leaf, np.float64))
                         for leaf in jax.tree_util.tree_leaves(tree)])


def _relative_difference(a, b) -> float:
  a, b = _flat(a), _flat(b)
  return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def _equations(jaxpr):
  """Every equation of a jaxpr, those inside scan/jit/custom_jvp/cond bodies included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
        if hasattr(inner, "eqns"):
          yield from _equations(inner)


def _flops(eqn) -> float:
  """Multiply-adds x 2 of a dot_general or convolution, from the shapes in the jaxpr."""
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  out = eqn.outvars[0].aval
  if eqn.primitive.name == "dot_general":
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    return 2.0 * out.size * np.prod([lhs.shape[d] for d in lhs_contract])
  rhs_out_axis = eqn.params["dimension_numbers"].rhs_spec[0]
  return 2.0 * out.size * rhs.size / rhs.shape[rhs_out_axis]


def bf16_share_of_heavy_flops(fn, *args, return_shape: bool = False):
  """(share of fn's matmul/convolution FLOPs whose operands are bf16, whether any value is bf16),
  and with `return_shape` fn's output shapes and dtypes (from the same trace)."""
  traced = jax.make_jaxpr(fn, return_shape=return_shape)(*args)
  closed, out_shape = traced if return_shape else (traced, None)
  jaxpr = closed.jaxpr
  total = low = 0.0
  any_bf16 = False
  for eqn in _equations(jaxpr):
    any_bf16 |= any(getattr(v.aval, "dtype", None) == jnp.bfloat16 for v in eqn.outvars)
    if eqn.primitive.name in HEAVY_OPS:
      flops = _flops(eqn)
      total += flops
      if all(v.aval.dtype == jnp.bfloat16 for v in eqn.invars[:2]):
        low += flops
  return (low / total, any_bf16, out_shape) if return_shape else (low / total, any_bf16)


def _float_leaf_dtypes(tree) -> set[str]:
  return {str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(tree)
          if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _d_fake(metrics: dict[str, np.ndarray]) -> np.ndarray:
  """What D says of the fakes: P(real) for the logistic losses, the critic value for hinge."""
  return metrics["d_fake"] if "d_fake" in metrics else metrics["critic_fake"]


# -- (a) a bf16 run trains --------------------------------------------------------------------
@pytest.mark.parametrize("recipe", RECIPES)
def test_a_bfloat16_run_trains(recipe):
  run = _run(recipe, "bfloat16")
  for metrics in run.metrics:
    for name, value in metrics.items():
      assert np.all(np.isfinite(value)), (name, value)
  d_fake = np.stack([_d_fake(metrics) for metrics in run.metrics])  # (STEPS, K)
  assert np.all(np.ptp(d_fake, axis=0) > 1e-3), d_fake  # every class's D(fake) moved
  assert _relative_difference(run.states[0].g_params, run.states[-1].g_params) > 0
  assert _relative_difference(run.states[0].d_params, run.states[-1].d_params) > 0


# -- (b) its first update is close to float32's, and bf16 really ran ----------------------------
@pytest.mark.parametrize("recipe", RECIPES)
def test_b_first_update_is_close_to_float32s(recipe):
  """The first step from the same parameters: the same losses to 1%, gradients to < 5%.

  The gradient is read from Adam's first moment, which after one update is exactly
  (1 - b1) * gradient. The update itself is lr * g / (|g| + eps), about lr * sign(g), so its
  relative difference counts sign flips of near-zero gradient entries (a bias in front of a
  batch norm has a gradient of exactly 0 in exact arithmetic: float32 gives it noise of 1e-7,
  bf16 larger noise) rather than how far bf16's arithmetic is off; so the update is checked by
  its signs. Measured here (XLA:CPU, jax 0.10.2), G / D: gradient relative difference
  JointGAN 0.015 / 0.011, SN-GAN 0.030 / 0.004; update signs agree on 99.5 / 99.7% and
  96.1 / 99.8% of the parameters (the update's own relative difference: 0.14 / 0.12 and
  0.39 / 0.04).
  """
  full, mixed = _run(recipe, "float32"), _run(recipe, "bfloat16")
  for name in ("d_loss", "g_loss"):
    # atol: a hinge generator loss can sit near 0 (-0.0038 here), where 1% is 4e-5
    np.testing.assert_allclose(mixed.metrics[0][name], full.metrics[0][name], rtol=1e-2,
                               atol=1e-3)
  for net in ("g", "d"):
    grad_full = _flat(optax.tree_utils.tree_get(getattr(full.states[1], f"{net}_opt_state"),
                                                "mu"))
    grad_mixed = _flat(optax.tree_utils.tree_get(getattr(mixed.states[1], f"{net}_opt_state"),
                                                 "mu"))
    assert np.linalg.norm(grad_full) > 0, f"{net}: no gradient to compare"
    difference = np.linalg.norm(grad_mixed - grad_full) / np.linalg.norm(grad_full)
    assert 0 < difference < 5e-2, (net, difference)  # close, and not the float32 numbers
    cosine = grad_full @ grad_mixed / np.linalg.norm(grad_full) / np.linalg.norm(grad_mixed)
    assert cosine > 0.99, (net, cosine)
    before = _flat(getattr(full.states[0], f"{net}_params"))
    update_full = _flat(getattr(full.states[1], f"{net}_params")) - before
    update_mixed = _flat(getattr(mixed.states[1], f"{net}_params")) - before
    assert np.mean(np.sign(update_full) == np.sign(update_mixed)) > 0.9, net


@pytest.mark.parametrize("recipe", RECIPES)
def test_b_bfloat16_runs_the_convolutions_and_matmuls_in_bf16(recipe):
  """In the traced train step, bf16 does the heavy arithmetic; float32 has no bf16 at all."""
  mixed, full = _run(recipe, "bfloat16"), _run(recipe, "float32")
  share, _ = bf16_share_of_heavy_flops(mixed.family.train_step, mixed.states[0], mixed.batch)
  assert share > 0.95, share  # the rest: spectral norm's power iteration and the logit heads
  share, any_bf16 = bf16_share_of_heavy_flops(full.family.train_step, full.states[0], full.batch)
  assert share == 0 and not any_bf16


# -- (c) parameters and optimiser state stay float32 --------------------------------------------
@pytest.mark.parametrize("recipe", RECIPES)
def test_c_bfloat16_initial_state_is_the_float32_one(recipe):
  """What lets both runs start from one state: bf16 changes no parameter, shape or dtype."""
  family, seed = _family(recipe, "bfloat16")
  shapes = jax.eval_shape(family.init, jax.random.PRNGKey(seed))
  expected = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                                    _initial_state(recipe))
  assert shapes == expected


@pytest.mark.parametrize("recipe", RECIPES)
def test_c_parameters_optimiser_and_model_state_stay_float32(recipe):
  state = _run(recipe, "bfloat16").states[-1]
  for name in ("g_params", "d_params", "g_opt_state", "d_opt_state", "g_ema_params",
               "g_model_state", "d_model_state"):
    assert _float_leaf_dtypes(getattr(state, name)) == {"float32"}, name
  assert _float_leaf_dtypes(_run(recipe, "bfloat16").metrics[-1]) == {"float32"}  # losses


# -- (d) spectral norm's power iteration and the gradient penalty are float32 ------------------
@pytest.mark.parametrize("recipe", RECIPES)
def test_d_power_iteration_is_float32_and_advances(recipe):
  run = _run(recipe, "bfloat16")
  before = run.states[0].d_model_state[SPECTRAL_COLLECTION]
  after = run.states[-1].d_model_state[SPECTRAL_COLLECTION]
  names = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(after)]
  assert any(n.endswith("/u']") for n in names) and any(n.endswith("/sigma']") for n in names)
  assert _float_leaf_dtypes(after) == {"float32"}
  assert _relative_difference(before, after) > 0  # the D steps advanced u and sigma
  full_after = _run(recipe, "float32").states[-1].d_model_state[SPECTRAL_COLLECTION]
  assert _relative_difference(full_after, after) < 5e-2


def test_d_gradient_penalty_is_float32_around_a_bf16_critic():
  """The JointGAN step's penalty (stacked critics, batch_dims=2) on the bf16 discriminators."""
  def penalty_of(run):
    family = run.family

    def penalty(state, real):
      critic = lambda x: family.discriminators.apply(
          {"params": state.d_params, **state.d_model_state}, x, False, True)
      fake = jnp.flip(real, axis=1)
      return regularizers.gradient_penalty(critic, real, fake, jax.random.PRNGKey(3),
                                           batch_dims=2)
    return penalty, (run.states[0], run.batch["real"])

  mixed, full = _run("jointgan", "bfloat16"), _run("jointgan", "float32")
  penalty, args = penalty_of(mixed)
  value, norms = jax.jit(penalty)(*args)
  assert value.dtype == jnp.float32 and norms.dtype == jnp.float32
  assert np.isfinite(value) and np.all(np.isfinite(norms))
  share, _ = bf16_share_of_heavy_flops(penalty, *args)
  assert share > 0.9, share  # the critic's forward and backward ran in bf16
  full_penalty, full_args = penalty_of(full)
  _, full_norms = jax.jit(full_penalty)(*full_args)
  np.testing.assert_allclose(norms, full_norms, rtol=2e-2)
  assert not np.array_equal(norms, full_norms)


# -- every family: bf16 reaches its networks, or the family refuses it ---------------------------
def _family_case(name: str):
  """(config, DataInfo) for a family's config (`:cpu` where there is one); only traced."""
  import cgan_cifar
  import classifier
  import dcgan_cifar
  import wgan_gp_cifar
  config = {"cgan": cgan_cifar, "classifier": classifier, "dcgan_batch_norm": dcgan_cifar,
            "wgan_gp": wgan_gp_cifar}[name].get_config(
                None if name == "dcgan_batch_norm" else "cpu")
  size, channels = config.data.image_size, config.data.channels
  labels = {"cgan": ("a", "b", "c"), "classifier": ("a", "b", "c")}.get(name, ("all",))
  return config, DataInfo(labels, {"image": (size, size, channels)})


@pytest.mark.parametrize("name", ["cgan", "wgan_gp", "dcgan_batch_norm", "classifier"])
def test_every_image_family_computes_in_bf16_with_a_float32_state(name):
  config, info = _family_case(name)
  config.precision = "bfloat16"
  validate_config(config)
  family = families.create(config, info)
  state = jax.eval_shape(family.init, jax.random.PRNGKey(0))
  batch = {k: jax.ShapeDtypeStruct(f.shape, jnp.dtype(f.dtype))
           for k, f in family.data_spec().items()}
  share, _, (new_state, metrics) = bf16_share_of_heavy_flops(family.train_step, state, batch,
                                                             return_shape=True)
  assert share > 0.95, share
  assert _float_leaf_dtypes(new_state) == {"float32"}  # params, optimiser, BN statistics
  assert _float_leaf_dtypes(metrics) == {"float32"}  # losses (and WGAN-GP's penalty)
  if name == "wgan_gp":
    assert metrics["gradient_penalty"].dtype == jnp.float32


@pytest.mark.parametrize("recipe", RECIPES)
def test_generated_images_leave_the_network_as_float32(recipe):
  family, _ = _family(recipe, "bfloat16")
  images = jax.eval_shape(family.generate, _initial_state(recipe),
                          family.latents(jax.random.PRNGKey(0), 2))
  assert images.dtype == jnp.float32


# -- (e) bad values and families without a bf16 path are refused -------------------------------
@pytest.mark.parametrize("value", ["float16", "bf16", "", None])
def test_e_other_precisions_are_config_errors(value):
  config, _, _ = _jointgan_config()
  config.precision = value
  with pytest.raises(ConfigError, match=r"config\.precision=.*must be one of \['float32', "
                                        r"'bfloat16'\]"):
    validate_config(config)


def test_e_a_family_built_without_validation_still_refuses_float16():
  config, labels, _ = _jointgan_config()
  config.precision = "float16"
  with pytest.raises(ConfigError, match=r"config\.precision='float16'"):
    families.create(config, image_info(labels, config.data.image_size))


def test_e_toy1d_refuses_bf16_by_name():
  """toy1d's MLPs on scalars have nothing to gain from bf16 (a few thousand FLOPs a step)."""
  import toy1d
  config = toy1d.get_config("cpu")
  config.precision = "bfloat16"
  with pytest.raises(ConfigError, match=r"config\.precision='bfloat16' is not supported by "
                                        r"family 'toy1d'"):
    validate_config(config)
  with pytest.raises(ConfigError, match=r"config\.precision='bfloat16'"):
    families.create(config, DataInfo(("a", "b"), {"x": (1,)}))


def test_runs_saved_before_the_field_existed_build_in_float32():
  """A checkpoint's config.json from before `precision` has no such field: float32."""
  config, labels, _ = _jointgan_config()
  del config["precision"]
  family = families.create(config, image_info(labels, config.data.image_size))
  assert family.compute_dtype == jnp.float32


# -- BiGAN and CycleGAN: bf16 trains, and its first gradient is as close as rounding allows -------
def _bigan_case(d_norm: str = "batch"):
  import bigan_mnist
  config = bigan_mnist.get_config("cpu")
  config.data.image_size = 8
  config.batch_size = 16
  config.model.hidden = 32
  config.model.z_dim = 8
  config.model.d_norm = d_norm
  return config, DataInfo(("all",), {"image": (8, 8, 1)})


def _cyclegan_case():
  import cyclegan_mnist
  config = cyclegan_mnist.get_config("cpu")
  config.data.image_size = config.data.domain_b.image_size = 8
  config.batch_size = 2
  config.model.g_width = 4
  config.model.g_blocks = 1
  config.model.g_downsamples = 1
  config.model.d_width = 8
  return config, DataInfo(("a", "b"), {"a": (8, 8, 1), "b": (8, 8, 3)})


NORMALISED = {"bigan": _bigan_case, "cyclegan": _cyclegan_case}


@functools.lru_cache(maxsize=None)
def _normalised_family(case: str, precision: str):
  """The family and its jitted train step (one compile per case and precision)."""
  config, info = NORMALISED[case]()
  config.precision = precision
  validate_config(config)
  family = families.create(config, info)
  return family, jax.jit(family.train_step)


@functools.lru_cache(maxsize=None)
def _normalised_initial_state(case: str):
  family, _ = _normalised_family(case, "float32")
  return family.init(jax.random.PRNGKey(0))


def _rounded_parameters(state):
  """`state` with its parameter trees rounded to bf16 (and kept float32)."""
  return state.replace(**{
      name: jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16).astype(x.dtype),
                                   getattr(state, name))
      for name in vars(state) if name.endswith("params")})


@functools.lru_cache(maxsize=None)
def _normalised_run(case: str, run: str) -> Run:
  """STEPS steps in bfloat16, or one float32 step ('float32'; 'floor': from the parameters
  rounded to bf16), all from the float32 family's initial state on one random batch."""
  family, step = _normalised_family(case, "bfloat16" if run == "bfloat16" else "float32")
  states = [_normalised_initial_state(case)]
  if run == "floor":
    states = [_rounded_parameters(states[0])]
  batch = _random_batch(family)
  metrics = []
  for _ in range(STEPS if run == "bfloat16" else 1):
    state, step_metrics = step(states[-1], batch)
    states.append(state)
    metrics.append(jax.device_get(step_metrics))
  return Run(family, batch, states, metrics)


def _first_gradients(state) -> dict[str, np.ndarray]:
  """Each Adam's gradient after its first update ((1 - b1) * g: its first moment), by field."""
  return {name: _flat(optax.tree_utils.tree_get(getattr(state, name), "mu"))
          for name in vars(state) if name.endswith("opt_state")}


@pytest.mark.parametrize("case", ["bigan", "cyclegan"])
def test_a_bfloat16_bigan_and_cyclegan_train(case):
  run = _normalised_run(case, "bfloat16")
  for metrics in run.metrics:
    for name, value in metrics.items():
      assert np.all(np.isfinite(value)), (name, value)
  d_fake = np.array([[value for name, value in sorted(metrics.items())
                      if name.startswith("d_fake")] for metrics in run.metrics])
  assert d_fake.shape[1] >= 1, sorted(run.metrics[0])
  assert np.all(np.ptp(d_fake, axis=0) > 1e-3), d_fake  # every discriminator's D(fake) moved
  for name in vars(run.states[0]):
    if name.endswith("params"):
      assert _relative_difference(getattr(run.states[0], name),
                                  getattr(run.states[-1], name)) > 0, name


@pytest.mark.parametrize("case", NORMALISED)
def test_b_bigan_and_cyclegan_first_gradients_are_as_close_as_rounding_the_weights_allows(case):
  """bf16's first gradient is within 2x (+ 0.01) of the floor's distance from float32's: the
  floor is float32 arithmetic from the parameters rounded to bf16, which every bf16 matmul and
  convolution multiplies by; bf16 also rounds the activations, which adds up to about as much
  again (measured here, bf16 / floor: BiGAN E+G 0.11 / 0.23, CycleGAN G 0.14 / 0.077).

  Why a floor and not the flat 5% of the other families: at initialisation these gradients are
  small differences of large terms in the normalisation layers (D's batch norm for BiGAN, the
  instance norms for CycleGAN), so a 2**-9 relative change of the weights alone, with no bf16
  arithmetic, moves them 14% (BiGAN's E+G) and 30% (CycleGAN's generators) at the :cpu sizes
  (benchmarks/precision_gradients.py, which also shows bf16 at 17% and 41% there).
  """
  full = _first_gradients(_normalised_run(case, "float32").states[1])
  mixed = _first_gradients(_normalised_run(case, "bfloat16").states[1])
  floor = _first_gradients(_normalised_run(case, "floor").states[1])
  for net, grad_full in full.items():
    assert np.linalg.norm(grad_full) > 0, f"{net}: no gradient to compare"
    difference = np.linalg.norm(mixed[net] - grad_full) / np.linalg.norm(grad_full)
    floor_difference = np.linalg.norm(floor[net] - grad_full) / np.linalg.norm(grad_full)
    assert 0 < difference <= 2 * floor_difference + 0.01, (net, difference, floor_difference)
    cosine = grad_full @ mixed[net] / np.linalg.norm(grad_full) / np.linalg.norm(mixed[net])
    assert cosine > 0.9, (net, cosine)


@pytest.mark.parametrize("case", ["bigan", "cyclegan"])
def test_c_bigan_and_cyclegan_compute_in_bf16_with_a_float32_state(case):
  run = _normalised_run(case, "bfloat16")
  share, _ = bf16_share_of_heavy_flops(run.family.train_step, run.states[0], run.batch)
  assert share > 0.9, share  # the rest: D's logit layer / last convolution, in float32
  full = _normalised_run(case, "float32")
  share, any_bf16 = bf16_share_of_heavy_flops(full.family.train_step, full.states[0], full.batch)
  assert share == 0 and not any_bf16
  state = run.states[-1]
  for name in vars(state):
    if name.endswith(("params", "opt_state", "model_state")):
      assert _float_leaf_dtypes(getattr(state, name)) == {"float32"}, name
  assert _float_leaf_dtypes(run.metrics[-1]) == {"float32"}  # losses
