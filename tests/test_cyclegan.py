"""CycleGAN: the cycle loss, the paired sampler, coloured digits, SVHN on mock data, resume.

Tiny shapes (8x8 images, widths 4) and in-memory or TFDS mock data: no data set is read.
"""

import os

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from jax.experimental.compilation_cache import compilation_cache
from PIL import Image

import classifier as classifier_configs
import cyclegan_mnist
import fault_helpers
from conftest import apply_overrides
from pegasus_jax import data, families, train
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data import paired, transforms
from pegasus_jax.data.spec import DataInfo
from pegasus_jax.data.tfds_source import ClassImages, DatasetMissingError
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics
from pegasus_jax.evaluation.evaluators import label_preservation
from pegasus_jax.families.cyclegan import CycleGAN
from pegasus_jax.run import runtime

SIZE = 8
CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")


@pytest.fixture(scope="module")
def compile_once(tmp_path_factory):
  """The loop runs of this module compile the same tiny step, picture and checksum programs: a
  persistent compilation cache (as tests/test_faults.py gives its subprocesses) makes every
  run after the first load them instead (~3x faster on 2 busy cores). Undone afterwards."""
  saved = {name: getattr(jax.config, name) for name in CACHE_SETTINGS}
  compilation_cache.reset_cache()
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
  compilation_cache.reset_cache()


def tiny_config(variant: str = "cpu", **overrides) -> ml_collections.ConfigDict:
  """configs/cyclegan_mnist.py at 8x8 with widths 4: a compile of a few seconds."""
  config = cyclegan_mnist.get_config(variant)
  config.batch_size = 4
  config.total_steps = 4
  config.log_every = 2
  config.sample_every = 2
  config.checkpoint_every = 2
  config.keep_checkpoints = 5
  config.num_sample_images = 3
  config.data.image_size = SIZE
  config.data.domain_b.image_size = SIZE
  config.model.g_width = 4
  config.model.g_downsamples = 1
  config.model.g_blocks = 0
  config.model.d_width = 4
  return apply_overrides(config, **overrides)


def random_paired_dataset(channels_a: int = 1, channels_b: int = 3, seed: int = 0
                          ) -> paired.PairedDataset:
  rng = np.random.default_rng(seed)
  return paired.PairedDataset(
      rng.integers(0, 256, (12, SIZE, SIZE, channels_a), dtype=np.uint8),
      rng.integers(0, 256, (10, SIZE, SIZE, channels_b), dtype=np.uint8),
      labels=("a", "b"), random_flip=False)


class Scale(nn.Module):
  """A stand-in generator: x -> factor * x (factor 1: the identity). One unused parameter, so
  the family's optimiser has a tree to work on."""

  factor: float

  @nn.compact
  def __call__(self, x):
    self.param("unused", nn.initializers.zeros, ())
    return self.factor * x


class PixelScore(nn.Module):
  """A stand-in discriminator: the first channel as patch scores (nothing to compile)."""

  @nn.compact
  def __call__(self, x):
    return x[..., 0] * self.param("weight", nn.initializers.ones, ())


def family_with_generators(factor: float, config=None, channels: int = 3) -> CycleGAN:
  """A CycleGAN whose generators multiply by `factor` (stand-in networks, exact losses)."""
  config = config or tiny_config(data__channels=channels, data__domain_b__channels=channels,
                                 cycle_noise=0.0)
  info = DataInfo(("a", "b"), {"a": (SIZE, SIZE, channels), "b": (SIZE, SIZE, channels)})
  family = CycleGAN(config, info)
  family.generators = {"a_to_b": Scale(factor), "b_to_a": Scale(factor)}
  family.discriminator = PixelScore()
  return family


@pytest.mark.parametrize("config", [
    cyclegan_mnist.get_config(), cyclegan_mnist.get_config("cpu"),
    cyclegan_mnist.get_config("svhn"), cyclegan_mnist.get_config("svhn_cpu"),
    classifier_configs.get_config("mnist"), classifier_configs.get_config("mnist_colour")])
def test_shipped_configs_are_valid(config):
  validate_config(config)


# -- the losses ---------------------------------------------------------------------------------
def test_cycle_loss_is_zero_for_identity_generators_and_measures_a_lossy_round_trip():
  rng = np.random.default_rng(0)
  real = {domain: rng.uniform(-1, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
          for domain in ("a", "b")}
  for factor, cycle_share in ((1.0, 0.0), (0.5, 0.75)):
    # The identity returns every image; halving twice returns a quarter of it, so the L1
    # cycle loss is 0.75 * mean |x|.
    family = family_with_generators(factor)
    state = family.init(jax.random.PRNGKey(0))
    _, (fake, parts) = family.generator_losses(state.g_params, state.d_params, real)
    for domain in ("a", "b"):
      expected = cycle_share * np.mean(np.abs(real[domain]))
      assert float(parts[f"cycle_{domain}"]) == pytest.approx(expected, rel=1e-6, abs=0.0)
      np.testing.assert_allclose(fake["b" if domain == "a" else "a"], factor * real[domain])
  # Noise on the way back: the identity's round trip is off by |0.1 * N(0, 1)|, 0.1 * sqrt(2/pi)
  # on average.
  family = family_with_generators(1.0, tiny_config(data__channels=3, cycle_noise=0.1))
  state = family.init(jax.random.PRNGKey(0))
  big = {d: np.zeros((64, SIZE, SIZE, 3), np.float32) for d in ("a", "b")}
  _, (_, parts) = family.generator_losses(state.g_params, state.d_params, big,
                                          jax.random.PRNGKey(1))
  for domain in ("a", "b"):
    assert float(parts[f"cycle_{domain}"]) == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.02)


def test_identity_loss_needs_equal_channels_and_is_zero_for_identity_generators():
  with pytest.raises(ConfigError, match=r"config.identity_weight=5.0 .* config.data.channels=1, "
                     r"config.data.domain_b.channels=3"):
    validate_config(tiny_config(identity_weight=5.0))
  config = tiny_config(identity_weight=5.0, data__channels=3, cycle_noise=0.0)
  validate_config(config)
  real = {d: np.full((4, SIZE, SIZE, 3), 0.5, np.float32) for d in ("a", "b")}
  for factor, expected in ((1.0, 0.0), (0.5, 0.25)):  # |0.5 * 0.5 - 0.5|
    family = family_with_generators(factor, config)
    state = family.init(jax.random.PRNGKey(0))
    _, (_, parts) = family.generator_losses(state.g_params, state.d_params, real)
    assert float(parts["identity_a"]) == float(parts["identity_b"]) == expected


# -- data -----------------------------------------------------------------------------------------
def test_paired_sampler_is_deterministic_per_step_and_delivers_each_domains_shape():
  dataset = random_paired_dataset()
  first, second = dataset.sampler(3, seed=1, process_index=0), dataset.sampler(3, 1, 0)
  assert {k: v.shape for k, v in first.fields.items()} == {"a": (3, SIZE, SIZE, 1),
                                                           "b": (3, SIZE, SIZE, 3)}
  for step in (5, 0, 2, 5):  # any order, fresh instance: the same batch
    a, b = first.batch(step), second.batch(step)
    assert a["a"].shape == (3, SIZE, SIZE, 1) and a["b"].shape == (3, SIZE, SIZE, 3)
    for domain in ("a", "b"):
      np.testing.assert_array_equal(a[domain], b[domain])
  assert not np.array_equal(first.batch(0)["a"], first.batch(1)["a"])
  assert not np.array_equal(first.batch(0)["a"], dataset.sampler(3, 2, 0).batch(0)["a"])
  # Independent streams: A (12 images) has 4 batches an epoch, B (10 images) 3.
  assert first.position(3) == {"a": {"epoch": 0, "batch_in_epoch": 3},
                               "b": {"epoch": 1, "batch_in_epoch": 0}}
  seen_b = np.concatenate([first.batch(s)["b"] for s in range(3)])
  assert len({image.tobytes() for image in seen_b}) == 9  # one epoch: 9 distinct images


def test_domain_b_is_read_with_its_own_settings(monkeypatch):
  read = []

  def fake_load_images(config, process_index=0, process_count=1):
    d = config.data
    read.append((d.name, d.split, d.channels, d.transform, "domain_b" in d))
    return ClassImages(("all",), [np.zeros((6, d.image_size, d.image_size, d.channels),
                                            np.uint8)])

  monkeypatch.setattr(data, "load_images", fake_load_images)
  dataset = data.load_dataset(tiny_config("svhn_cpu"))
  assert read == [("mnist", "train[:30000]", 1, "", False),
                  ("svhn_cropped", "train", 3, "", False)]
  assert dataset.info == DataInfo(("mnist:train[:30000]", "svhn_cropped:train"),
                                  {"a": (SIZE, SIZE, 1), "b": (SIZE, SIZE, 3)})
  config = tiny_config()
  config.unlock()
  del config.data["domain_b"]
  with pytest.raises(ConfigError, match=r"config.data.sampler='paired' needs "
                     r"config.data.domain_b"):
    data.load_dataset(config)


def test_colouring_is_deterministic_seeded_and_keyed_by_the_image_not_its_position():
  rng = np.random.default_rng(0)
  digits = rng.integers(0, 256, (16, SIZE, SIZE, 1), dtype=np.uint8)
  coloured = transforms.colour_digits(digits, seed=0)
  assert coloured.shape == (16, SIZE, SIZE, 3) and coloured.dtype == np.uint8
  np.testing.assert_array_equal(coloured, transforms.colour_digits(digits, seed=0))
  np.testing.assert_array_equal(transforms.colour_digits(digits[::-1], seed=0), coloured[::-1])
  other_seed = transforms.colour_digits(digits, seed=1)
  assert np.mean(np.any(other_seed != coloured, axis=(1, 2, 3))) == 1.0
  # Pure paper (0) and pure ink (255) pixels take the two colours, 64..192 apart per channel.
  paper, ink = transforms.digit_colours(transforms.image_keys(digits[..., 0], 0))
  gap = (ink.astype(int) - paper.astype(int)) % 256
  assert gap.min() >= 64 and gap.max() <= 192
  edges = np.zeros((2, SIZE, SIZE, 3), np.uint8)
  edges[1] = 255
  keys = transforms.image_keys(edges[..., 0], 0)
  paper, ink = transforms.digit_colours(keys)
  out = transforms.colour_digits(edges, seed=0)
  np.testing.assert_array_equal(out[0, 0, 0], paper[0])
  np.testing.assert_array_equal(out[1, 0, 0], ink[1])
  with pytest.raises(ConfigError, match=r"config.data.transform='colour' makes RGB images: set "
                     r"config.data.channels=3"):
    transforms.apply("colour", digits, channels=1)
  with pytest.raises(ConfigError, match=r"config.data.domain_b.transform='colour' .* "
                     r"config.data.domain_b.channels=3"):
    validate_config(tiny_config(data__domain_b__channels=1))


# -- MNIST <-> SVHN -------------------------------------------------------------------------------
def test_mnist_to_svhn_trains_a_step_on_tfds_mock_data(tmp_path, compile_once):
  """The loop's own pieces (data, family, sampler check, sharded step) on mock TFDS data."""
  data_dir = str(tmp_path / "tfds")
  for name in ("mnist", "svhn_cropped"):
    fault_helpers.write_mock_metadata(data_dir, name)
  config = tiny_config("svhn_cpu", data__data_dir=data_dir, data__download=False)
  validate_config(config)
  with tfds.testing.mock_data(num_examples=8, data_dir=data_dir):
    dataset = data.load_dataset(config)
  assert dataset.info == DataInfo(("mnist:train[:30000]", "svhn_cropped:train"),
                                  {"a": (SIZE, SIZE, 1), "b": (SIZE, SIZE, 3)})
  family = families.create(config, dataset.info)
  sampler = train.build_sampler(config, family, dataset)
  mesh = runtime.make_mesh()
  state = jax.jit(family.init, out_shardings=runtime.replicated(mesh))(
      runtime.stream_key(config.seed, "init"))
  batch = jax.device_put(sampler.batch(0), runtime.batch_shardings(mesh, family.data_spec()))
  state, metrics = train.compile_train_step(family, mesh)(state, batch)
  assert int(state.step) == 1
  assert np.isfinite(float(metrics["g_loss"])) and float(metrics["cycle_a"]) > 0


def test_mnist_to_svhn_without_the_data_set_names_svhn_cropped(tmp_path):
  folder = tmp_path / "digits"  # domain A from a folder: nothing else is prepared anywhere
  folder.mkdir()
  for i in range(4):
    Image.fromarray(np.full((SIZE, SIZE), 40 * i, np.uint8)).save(folder / f"{i}.png")
  config = tiny_config("svhn_cpu", data__name="image_folder", data__path=str(folder),
                       data__data_dir=str(tmp_path / "empty"), data__download=False)
  with pytest.raises(DatasetMissingError, match=r"TFDS data set 'svhn_cropped' is not prepared"
                     r".*download_and_prepare"):
    train.train_and_evaluate(config, str(tmp_path / "run"))


# -- the loop -------------------------------------------------------------------------------------
def test_trains_through_the_loop_draws_both_directions_and_resumes_bitwise(tmp_path,
                                                                           monkeypatch,
                                                                           compile_once):
  monkeypatch.setattr(data, "load_dataset", lambda config, process_index=0, process_count=1:
                      random_paired_dataset())
  config = tiny_config()
  assert config.cycle_noise > 0  # random numbers in the step: from fold_in(rng, step)
  straight = train.train_and_evaluate(config, str(tmp_path / "straight"))
  assert straight["final_step"] == 4
  metrics = straight["last_metrics"]
  assert {"g_loss", "cycle_a", "cycle_b", "g_adversarial_a_to_b", "d_loss_a", "d_loss_b",
          "d_real_b", "d_fake_b"} <= set(metrics)
  assert all(np.isfinite(value) for value in metrics.values())
  for direction, shape in (("a_to_b", 3), ("b_to_a", 3)):
    pictures = sorted(os.listdir(tmp_path / "straight" / direction))
    assert pictures == ["step_0000002.png", "step_0000004.png"]
    image = np.asarray(Image.open(tmp_path / "straight" / direction / pictures[-1]))
    assert image.shape == (3 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2, shape)
  first = train.train_and_evaluate(
      apply_overrides(tiny_config(), total_steps=2),
      str(tmp_path / "resumed"))
  assert first["final_step"] == 2
  resumed = train.train_and_evaluate(config, str(tmp_path / "resumed"))
  assert resumed["start_step"] == 2
  leaves = zip(jax.tree_util.tree_leaves(jax.device_get(straight["state"])),
               jax.tree_util.tree_leaves(jax.device_get(resumed["state"])))
  assert all(np.array_equal(a, b) for a, b in leaves)


# -- label preservation ---------------------------------------------------------------------------
class IntensityClassifier:
  """A stand-in digit classifier: reads digit k from a grey level of 20k + 10 (uint8)."""

  labels = tuple(str(k) for k in range(10))
  image_shape = (SIZE, SIZE, 3)

  def predict(self, images):
    level = (np.asarray(images).mean(axis=(1, 2, 3)) + 1.0) * 127.5
    digit = np.clip(np.round((level - 10) / 20), 0, 9).astype(int)
    return np.eye(10)[digit], np.zeros((len(images), 1))


def test_label_preservation_counts_translations_read_as_the_source_digit(monkeypatch):
  def digits_of_each_class(config, process_index=0, process_count=1):
    assert config.data.split == "test" and config.data.classes == IntensityClassifier.labels
    return ClassImages(config.data.classes, [np.full((5, SIZE, SIZE, 3), 20 * k + 10, np.uint8)
                                             for k in range(10)])

  monkeypatch.setattr(data, "load_images", digits_of_each_class)
  monkeypatch.setattr(classifier_metrics, "load_classifier",
                      lambda workdir, prefer_best=False: IntensityClassifier())
  config = tiny_config(data__channels=3, eval_every=1)
  config.evals.label_preservation.classifier_a = "runs/a"
  config.evals.label_preservation.classifier_b = "runs/b"
  config.evals.label_preservation.num_images = 50
  info = DataInfo(("a", "b"), {"a": (SIZE, SIZE, 3), "b": (SIZE, SIZE, 3)})
  options = dict(config.evals.label_preservation)
  options.pop("type")
  for factor, expected in ((1.0, 1.0), (-1.0, 0.1)):
    # The identity keeps every digit; negation turns level 20k + 10 into 245 - 20k, which reads
    # as min(12 - k, 9): only k = 6 survives.
    family = family_with_generators(factor, config)
    evaluate = label_preservation.create(config, options, family, info)
    scores = evaluate(family.init(jax.random.PRNGKey(0)))
    assert scores == {"eval/label_preservation_a_to_b": pytest.approx(expected),
                      "eval/label_preservation_b_to_a": pytest.approx(expected),
                      "eval/classifier_accuracy_b": 1.0, "eval/classifier_accuracy_a": 1.0}
  options.update(classifier_a="", classifier_b="")
  with pytest.raises(ConfigError, match=r"config.evals.label_preservation.classifier_b and "
                     r"config.evals.label_preservation.classifier_a are both empty"):
    label_preservation.create(config, options, family, info)
