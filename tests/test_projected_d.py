"""The projected discriminator option (model.d_arch='projected', families/projected_d.py):
a frozen classifier backbone outside the optimiser, heads vmapped over the classes, the
backbone's checksum in the run's signature, and a discriminator that learns on a tiny problem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import classifier as classifier_configs  # configs/classifier.py
from conftest import apply_overrides, image_info, random_class_images, save_initial_checkpoint, tiny_config
from pegasus_jax import families
from pegasus_jax.run import checkpoint, runtime
from pegasus_jax.config.validation import validate_config
from pegasus_jax.errors import ConfigError
from pegasus_jax.families import frozen_classifier, projected_d
from pegasus_jax.models import projected

CLASSES = ("horse", "bird")
SIZE = 16  # the smallest the backbone takes


def _train_classifier_briefly(family, state):
  """Two steps on random images: fills the whitening layer, moves the weights off init."""
  real = np.stack(random_class_images(2, per_class=4, size=SIZE)).astype(np.float32)
  batch = {"real": jnp.asarray(real / 127.5 - 1.0)}
  step = jax.jit(family.train_step)
  for _ in range(2):
    state, _ = step(state, batch)
  return state


def _backbone(tmp_path_factory, seed: int) -> str:
  config = classifier_configs.get_config("fast")
  config.model.width = 2  # groups of 2, 8, 8 channels
  config.batch_size = 4
  config.seed = seed
  return save_initial_checkpoint(config, CLASSES, str(tmp_path_factory.mktemp(f"guide{seed}")),
                                 size=SIZE, prepare=_train_classifier_briefly)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> tuple[str, str]:
  """Two tiny fast_cifar classifier runs (different seeds: different networks)."""
  return _backbone(tmp_path_factory, 0), _backbone(tmp_path_factory, 1)


# G nearly frozen, D quick: what the step tests train with (one compiled step for both).
D_LEARNS = dict(optimizer__g_lr=1e-9, optimizer__d_lr=4e-3)


def projected_config(backbone: str, **overrides):
  return tiny_config(data__image_size=SIZE, data__classes=CLASSES, model__d_arch="projected",
                     model__projected__backbone=backbone, model__projected__mix_channels=4,
                     **overrides)


def _real_batch(config, seed: int = 0):
  real = np.stack(random_class_images(2, per_class=config.batch_size, size=SIZE, seed=seed))
  return {"real": jnp.asarray(real.astype(np.float32) / 127.5 - 1.0)}


def test_backbone_is_frozen_outside_the_optimiser_and_passes_the_generator_gradient(backbones):
  config = projected_config(backbones[0], **D_LEARNS)
  validate_config(config)
  family = families.create(config, image_info(CLASSES, SIZE))
  backbone = family.discriminators.backbone
  before = jax.tree_util.tree_map(np.array, backbone.variables)
  state = jax.jit(family.init)(jax.random.PRNGKey(0))

  # Only the heads are trained: no backbone variable in the parameters or the Adam moments.
  head_size = sum(x.size for x in jax.tree_util.tree_leaves(state.d_params))
  assert not any("ConvGroup" in jax.tree_util.keystr(path) for path, _ in
                 jax.tree_util.tree_leaves_with_path((state.d_params, state.d_opt_state)))
  adam_moments = [s for s in jax.tree_util.tree_leaves(state.d_opt_state) if s.ndim > 0]
  assert sum(x.size for x in adam_moments) == 2 * head_size
  mixing = jax.tree_util.tree_map(np.array, state.d_model_state["projection"])

  step = jax.jit(family.train_step)
  params_before = jax.tree_util.tree_map(np.array, state.d_params)
  for i in range(3):
    state, metrics = step(state, _real_batch(config, seed=i))
  assert float(metrics["g_grad_norm"]) > 0  # G learns through the frozen network
  jax.tree_util.tree_map(np.testing.assert_array_equal, before, backbone.variables)
  assert frozen_classifier.variables_sha256(backbone.variables) == backbone.sha256
  jax.tree_util.tree_map(np.testing.assert_array_equal, mixing,
                         state.d_model_state["projection"])  # the random mixing stays fixed
  moved = jax.tree_util.tree_map(lambda a, b: not np.array_equal(a, b), params_before,
                                 state.d_params)
  assert all(jax.tree_util.tree_leaves(moved))  # while every head parameter trains


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_heads_vmapped_over_classes_equal_separate_heads(spectral_norm):
  k, n = 3, 2
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  features = [jax.random.normal(keys[0], (k, n, 15, 15, 5)),
              jax.random.normal(keys[1], (k, n, 7, 7, 6)),
              jax.random.normal(keys[2], (k, n, 3, 3, 6))]
  stacked = projected.ProjectedDiscriminators(num_classes=k, mix_channels=4, width=8,
                                              spectral_norm=spectral_norm)
  variables = stacked.init(keys[3], features, False)
  apply = jax.jit(stacked.apply, static_argnums=2)
  logits = apply(variables, features, False)
  assert logits.shape == (k, n)

  mixed = projected.CrossMixing(4).apply(
      {"projection": variables["projection"]["CrossMixing_0"]}, features)
  head = projected.ScaleHeads(width=8, spectral_norm=spectral_norm)
  heads = {name: tree["heads"] for name, tree in variables.items() if name != "projection"}
  for c in range(k):
    own = jax.tree_util.tree_map(lambda x, c=c: x[c], heads)
    separate = jax.jit(head.apply, static_argnums=2)(own, [m[c] for m in mixed], False)
    np.testing.assert_allclose(separate, logits[c], rtol=1e-5, atol=1e-6)
  # and the K heads differ (independent initialisation): same features, different logits
  same = apply(variables, [jnp.broadcast_to(f[:1], f.shape) for f in features], False)
  assert not np.allclose(same[0], same[1])


def test_resuming_with_another_backbone_is_refused(backbones, tmp_path):
  """What the loop does on resume (train._train): the saved config against the new one."""
  saved_config = projected_config(backbones[0])
  workdir = save_initial_checkpoint(saved_config, CLASSES, str(tmp_path / "run"), size=SIZE)
  assert (saved_config.model.projected.backbone_sha256
          == projected_d.load_backbone(backbones[0]).sha256)  # filled in by the family

  def resume(config):
    family = families.create(config, image_info(CLASSES, SIZE))
    abstract = checkpoint.replicated_abstract(
        jax.eval_shape(family.init, runtime.stream_key(config.seed, "init")),
        runtime.replicated(runtime.make_mesh()))
    store = checkpoint.CheckpointStore(workdir + "/checkpoints", keep=5, asynchronous=False)
    try:
      return store.restore_latest(abstract, config, family.signature_fields)
    finally:
      store.close()

  with pytest.raises(checkpoint.IncompatibleCheckpointError,
                     match=r"config.model.projected.backbone(_sha256)?: checkpoint has"):
    resume(projected_config(backbones[1]))
  _, _, step = resume(projected_config(backbones[0]))  # the same backbone resumes
  assert step == 1
  # an explicit checksum that does not match the backbone is refused before anything loads
  mismatched = projected_config(backbones[0], model__projected__backbone_sha256="0" * 64)
  with pytest.raises(ConfigError, match="backbone_sha256"):
    families.create(mismatched, image_info(CLASSES, SIZE))


@pytest.mark.parametrize("field, value, message", [
    ("model__projected__backbone", "", "config.model.projected.backbone=''"),
    ("model__projected__backbone", "/nonexistent/guide", "config.model.projected.backbone="),
    ("model__d_arch", "frozen", "config.model.d_arch='frozen'"),
])
def test_bad_backbone_fields_are_config_errors(backbones, field, value, message):
  config = apply_overrides(projected_config(backbones[0]), **{field: value})
  with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
    validate_config(config)


def test_not_a_classifier_run_is_refused(tmp_path):
  generator_run = save_initial_checkpoint(tiny_config(), CLASSES, str(tmp_path / "gan"))
  with pytest.raises(ConfigError, match="config.model.projected.backbone=.*'jointgan' run"):
    projected_d.load_backbone(generator_run)


def test_discriminator_learns_to_tell_real_from_fake(backbones):
  """G nearly frozen (tiny lr): D's hinge loss falls and its real critic rises above the fake."""
  config = projected_config(backbones[0], **D_LEARNS)
  family = families.create(config, image_info(CLASSES, SIZE))
  state = jax.jit(family.init)(jax.random.PRNGKey(0))
  step = jax.jit(family.train_step)
  batch = _real_batch(config)
  first = None
  for _ in range(12):
    state, metrics = step(state, batch)
    first = metrics if first is None else first
  assert float(jnp.mean(metrics["d_loss"])) < 0.9 * float(jnp.mean(first["d_loss"]))
  assert np.all(np.asarray(metrics["critic_real"]) > np.asarray(metrics["critic_fake"]))
