"""config.guide: a frozen classifier asks JointGAN's fakes to read (1/2 horse, 1/2 bird)."""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jointgan as jointgan_configs  # configs/ is on pytest's path (conftest)
from conftest import image_info, save_initial_checkpoint, tiny_config
from pegasus_jax import families
from pegasus_jax.run import checkpoint
from pegasus_jax.config.validation import validate_config
from pegasus_jax.errors import ConfigError
from pegasus_jax.families import frozen_classifier
from pegasus_jax.families.cgan import ConditionalGAN, cgan_config
from pegasus_jax.families.jointgan import JointGAN
from pegasus_jax.gan import guide as guide_term

REPO = pathlib.Path(__file__).resolve().parents[1]


def _fake_guide(labels=("horse", "bird")):
  """A 'classifier' of 8x8 images: logits (mean of the red channel, mean of the green one)."""
  def log_probs(params, images):
    logits = params["scale"] * jnp.mean(images, axis=(1, 2))[:, :2]
    return jax.nn.log_softmax(logits, axis=-1)
  return guide_term.Guide(log_probs=log_probs, params={"scale": 3.0}, labels=labels,
                          image_shape=(8, 8, 3), checksum="fake", workdir="fake")


def test_target_is_half_on_each_class():
  np.testing.assert_allclose(guide_term.target_distribution(("cat", "horse", "bird"),
                                                            ("horse", "bird")), [0, 0.5, 0.5])
  for bad in (("horse", "dog"), ("horse", "horse"), ("horse",)):
    with pytest.raises(ConfigError, match="guide.classes"):
      guide_term.target_distribution(("cat", "horse", "bird"), bad)


def test_the_gradient_is_zero_where_the_guide_reads_one_half_each():
  guide = _fake_guide()
  target = guide_term.target_distribution(guide.labels, ("horse", "bird"))
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
  images[..., 1] = images[..., 0]  # equal logits: p = (1/2, 1/2) exactly
  grad = jax.grad(lambda x: guide_term.guide_loss(guide, x, jax.random.PRNGKey(0), "", target))
  np.testing.assert_array_equal(grad(jnp.asarray(images)), 0.0)
  loss = guide_term.guide_loss(guide, jnp.asarray(images), jax.random.PRNGKey(0), "", target)
  np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-6)  # the minimum: the target's entropy
  images[..., 1] = -images[..., 0]  # now the guide leans one way: a gradient pulls it back
  assert float(jnp.abs(grad(jnp.asarray(images))).max()) > 1e-3


def test_class_mass_moves_the_target_and_the_loss_minimum():
  np.testing.assert_allclose(guide_term.target_distribution(
      ("cat", "horse", "bird"), ("horse", "bird"), (0.4, 0.6)), [0, 0.4, 0.6], rtol=1e-6)
  np.testing.assert_allclose(guide_term.target_distribution(   # () = the even split
      ("cat", "horse", "bird"), ("horse", "bird"), ()), [0, 0.5, 0.5])
  guide = _fake_guide()
  target = guide_term.target_distribution(guide.labels, ("horse", "bird"), (0.4, 0.6))
  images = np.zeros((3, 8, 8, 3), np.float32)
  # logits (3 * mean red, 3 * mean green): p_horse = 0.4 where red - green = log(0.4/0.6) / 3
  images[..., 0] = np.log(0.4 / 0.6) / 3.0
  grad = jax.grad(lambda x: guide_term.guide_loss(guide, x, jax.random.PRNGKey(0), "", target))
  np.testing.assert_allclose(grad(jnp.asarray(images)), 0.0, atol=1e-6)
  even = guide_term.target_distribution(guide.labels, ("horse", "bird"))
  grad_even = jax.grad(lambda x: guide_term.guide_loss(guide, x, jax.random.PRNGKey(0), "", even))
  assert float(jnp.abs(grad_even(jnp.asarray(images))).max()) > 1e-3  # (1/2, 1/2) pulls on


@pytest.mark.parametrize("mass, message", [
    ((0.5, 0.6), "sum to 1"), ((1.0, 0.0), "> 0"), ((0.2, 0.3, 0.5), "one number per class"),
    ("0.4,0.6", "must be a tuple")])
def test_a_bad_class_mass_is_refused(mass, message):
  with pytest.raises(ConfigError, match=message):
    guide_term.target_distribution(("cat", "horse", "bird"), ("horse", "bird"), mass)


def test_the_any_target_asks_for_one_class_not_the_overlap():
  """'any' = -log(p_horse + p_bird) over a 3-class guide: zero (and flat) when the third class
  has no mass, whichever of the two the image is; 'hybrid' at the same images is not."""
  def log_probs(params, images):  # logits: (red, green, blue channel means) * scale
    return jax.nn.log_softmax(params["scale"] * jnp.mean(images, axis=(1, 2)), axis=-1)
  guide = guide_term.Guide(log_probs=log_probs, params={"scale": 40.0},
                           labels=("horse", "bird", "cat"), image_shape=(8, 8, 3),
                           checksum="fake", workdir="fake")
  target = guide_term.target_distribution(guide.labels, ("horse", "bird"))
  images = np.full((2, 8, 8, 3), -1.0, np.float32)
  images[0, ..., 0] = 1.0  # reads horse
  images[1, ..., 1] = 1.0  # reads bird
  loss = lambda kind, x: guide_term.guide_loss(guide, x, jax.random.PRNGKey(0), "", target, kind)
  x = jnp.asarray(images)
  assert float(loss("any", x)) < 1e-6
  assert float(jnp.abs(jax.grad(lambda x: loss("any", x))(x)).max()) < 1e-6
  assert float(loss("hybrid", x)) > 10.0  # each image is all one class: far from (1/2, 1/2)
  images[1, ..., 1] = -1.0
  images[1, ..., 2] = 1.0  # now a cat: 'any' pulls it towards horse or bird
  assert float(loss("any", jnp.asarray(images))) > 10.0
  with pytest.raises(ConfigError, match="guide.target"):
    loss("both", x)


def test_bad_guide_configs_are_refused():
  with pytest.raises(ConfigError, match="guide.classifier=CLASSIFIER_WORKDIR"):
    JointGAN.check_config(tiny_config(guide__weight=1.0))
  with pytest.raises(ConfigError, match="guide.weight"):
    JointGAN.check_config(tiny_config(guide__weight=-1.0))
  with pytest.raises(ConfigError, match="guide.target"):
    JointGAN.check_config(tiny_config(guide__target="both"))
  with pytest.raises(ConfigError, match="guide.augment"):
    JointGAN.check_config(tiny_config(guide__augment="sharpen"))
  with pytest.raises(ConfigError, match="guide.class_mass"):
    JointGAN.check_config(tiny_config(guide__class_mass=(0.5, 0.6)))
  with pytest.raises(ConfigError, match="shapes the 'hybrid' target only"):
    JointGAN.check_config(tiny_config(guide__class_mass=(0.4, 0.6), guide__target="any"))
  with pytest.raises(ConfigError, match="one number per class"):
    JointGAN.check_config(tiny_config(guide__class_mass=(0.2, 0.3, 0.5)))
  for bad in ((0.0, 0.5), (0.6, 0.3), (0.5, 1.5), (0.5,)):
    with pytest.raises(ConfigError, match="guide.blur_sigma"):
      JointGAN.check_config(tiny_config(guide__blur_sigma=bad))
  config = cgan_config()
  config.guide.weight, config.guide.classifier = 1.0, "somewhere"
  with pytest.raises(ConfigError, match="JointGAN's"):
    ConditionalGAN.check_config(config)


def test_a_changed_guide_is_refused_on_resume():
  config = tiny_config(guide__classifier="a", guide__weight=1.0)
  guide_term.record_checksum(config, _fake_guide())
  assert config.guide.checksum == "fake"
  saved = checkpoint.config_to_dict(config)
  other = tiny_config(guide__classifier="a", guide__weight=1.0, guide__checksum="retrained")
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match="guide.checksum"):
    checkpoint.check_compatible(saved, other, "ckpt", JointGAN.signature_fields)
  moved = tiny_config(guide__classifier="b", guide__weight=1.0, guide__checksum="fake")
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match="guide.classifier"):
    checkpoint.check_compatible(saved, moved, "ckpt", JointGAN.signature_fields)
  with pytest.raises(ConfigError, match="not the classifier this run was trained with"):
    guide_term.record_checksum(other, _fake_guide())


def test_a_tiny_guided_run_lowers_the_guide_term(tmp_path_factory):
  from test_classifier import tiny_classifier_config
  classifier = save_initial_checkpoint(tiny_classifier_config(), ("horse", "bird", "cat"),
                                       str(tmp_path_factory.mktemp("guide")))
  config = tiny_config(guide__classifier=classifier, guide__weight=50.0, guide__augment="",
                       optimizer__g_lr=1e-2)
  family = families.create(config, image_info(("horse", "bird"), 8))
  assert config.guide.checksum == family.guide.checksum != ""
  state = family.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  real = jnp.asarray(rng.uniform(-1, 1, (2, 4, 8, 8, 3)), jnp.float32)
  z = family.latents(jax.random.PRNGKey(9), 16)

  def term(state):
    images = family.generator.apply({"params": state.g_params, **state.g_model_state}, z,
                                    train=False)
    return float(guide_term.guide_loss(family.guide, images, jax.random.PRNGKey(0), "",
                                       family.guide_target))

  step = jax.jit(family.train_step)
  before = term(state)
  params_before = jax.tree_util.tree_leaves(family.guide.params)
  for _ in range(5):
    state, metrics = step(state, {"real": real})
  assert "g_guide_ce" in metrics
  assert term(state) < before - 1e-3, (before, term(state))
  # the guide is frozen: its parameters are untouched and not part of the state
  for a, b in zip(params_before, jax.tree_util.tree_leaves(family.guide.params)):
    np.testing.assert_array_equal(a, b)


def test_guide_batch_reads_only_the_first_fakes_and_all_of_them_is_the_full_term(
    tmp_path_factory):
  """guide.batch = n: the guide sees n of the step's fakes (its cost); n = batch_size is the
  full term bitwise; n > batch_size is refused."""
  from test_classifier import tiny_classifier_config
  classifier = save_initial_checkpoint(tiny_classifier_config(), ("horse", "bird", "cat"),
                                       str(tmp_path_factory.mktemp("guide_batch")))
  real = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 4, 8, 8, 3)), jnp.float32)

  def one_step(batch):
    config = tiny_config(guide__classifier=classifier, guide__weight=5.0, guide__batch=batch)
    family = families.create(config, image_info(("horse", "bird"), 8))
    seen = []
    log_probs = family.guide.log_probs
    family.guide = dataclasses.replace(
        family.guide, log_probs=lambda p, x: (seen.append(x.shape[0]), log_probs(p, x))[1])
    state, metrics = jax.jit(family.train_step)(family.init(jax.random.PRNGKey(0)),
                                                {"real": real})
    return seen, state, metrics

  seen, _, part = one_step(3)
  assert seen == [3]
  seen, all_state, all_metrics = one_step(0)
  assert seen == [4]
  _, same_state, _ = one_step(4)
  for a, b in zip(jax.tree_util.tree_leaves(all_state), jax.tree_util.tree_leaves(same_state)):
    np.testing.assert_array_equal(a, b)
  assert float(part["g_guide_ce"]) != float(all_metrics["g_guide_ce"])
  np.testing.assert_array_equal(part["d_loss"], all_metrics["d_loss"])  # D's step is untouched
  with pytest.raises(ConfigError, match="guide.batch=5 exceeds the 4 fakes"):
    JointGAN.check_config(tiny_config(guide__batch=5))
  with pytest.raises(ConfigError, match="guide.batch"):
    JointGAN.check_config(tiny_config(guide__batch=-1))


def test_checkpoints_older_than_the_guide_fields_resume_without_a_guide_only():
  saved = checkpoint.config_to_dict(tiny_config())
  del saved["guide"], saved["g_aggregate"]  # as written before these fields existed
  checkpoint.check_compatible(saved, tiny_config(), "ckpt", JointGAN.signature_fields)
  guided = tiny_config(guide__classifier="a", guide__weight=1.0, guide__checksum="x")
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match="guide.classifier"):
    checkpoint.check_compatible(saved, guided, "ckpt", JointGAN.signature_fields)


def test_checkpoints_older_than_the_projected_fields_resume_at_their_defaults_only():
  saved = checkpoint.config_to_dict(tiny_config())
  del saved["model"]["d_arch"], saved["model"]["projected"]  # written before they existed
  defaults = JointGAN.default_config()
  checkpoint.check_compatible(saved, tiny_config(), "ckpt", JointGAN.signature_fields, defaults)
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match="model.d_arch"):
    checkpoint.check_compatible(saved, tiny_config(), "ckpt", JointGAN.signature_fields)
  projected = tiny_config(model__d_arch="projected")
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match="model.d_arch"):
    checkpoint.check_compatible(saved, projected, "ckpt", JointGAN.signature_fields, defaults)


def test_guide_tta_picks_the_guides_views(monkeypatch):
  """'' keeps the classifier's own views (the committed guide averages image and mirror);
  'none' reads one view: half the guide's passes per generator step."""
  monkeypatch.chdir(REPO)
  frozen = frozen_classifier.load("assets/guide", "guide")
  assert frozen.family.tta == "flip"
  images = jax.random.uniform(jax.random.PRNGKey(0), (4, 32, 32, 3), minval=-1.0, maxval=1.0)
  guides = {tta: guide_term.guide_from_classifier(
      frozen.family, frozen.state, frozen.temperature, frozen.labels, frozen.image_shape,
      "cs", "wd", tta) for tta in (None, "none", "flip")}
  log_probs = {tta: np.asarray(g.log_probs(g.params, images)) for tta, g in guides.items()}
  variables = {"params": frozen.state.params, "batch_stats": frozen.state.batch_stats}
  single, _ = frozen.family.model.apply(variables, images, train=False)
  mirrored, _ = frozen.family.model.apply(variables, images[:, :, ::-1], train=False)
  expect = lambda logits: jax.nn.log_softmax(logits / frozen.temperature, axis=-1)
  np.testing.assert_allclose(log_probs["none"], expect(single), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(log_probs["flip"], expect((single + mirrored) / 2), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(log_probs[None], log_probs["flip"])
  assert np.abs(log_probs["none"] - log_probs["flip"]).max() > 1e-3
  with pytest.raises(ConfigError, match="guide.tta"):
    JointGAN.check_config(tiny_config(guide__tta="mirror"))


def test_the_shipped_guided_cpu_variant_steers_by_the_committed_guide_not_the_judge(monkeypatch):
  monkeypatch.chdir(REPO)  # the variant names assets/guide relative to the repository root
  config = jointgan_configs.get_config("cpu_guide")
  validate_config(config)
  assert config.guide.classifier == "assets/guide" and config.guide.weight > 0
  family = families.create(config, image_info(("horse", "bird"), 32))
  guide = frozen_classifier.load("assets/guide", "guide")
  judge = frozen_classifier.load("assets/judge", "judge")
  assert config.guide.checksum == family.guide.checksum == guide.sha256[:16] != judge.sha256[:16]
