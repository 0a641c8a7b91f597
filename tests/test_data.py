"""TFDS class filtering (on mock data), the step-indexed sampler, and data errors."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import SHARED_TFDS
from pegasus_jax.data import tfds_source
from pegasus_jax.data.samplers import ClassBalancedSampler

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
NUM_EXAMPLES = 60


@pytest.fixture
def mock_cifar(tmp_path):
  """Mock CIFAR-10 whose image pixels encode (label, example index); records requested splits."""
  builder = tfds.builder("cifar10", data_dir=str(tmp_path))
  builder.info.features["label"].names = CIFAR_NAMES
  builder.info.set_splits(tfds.core.SplitDict(
      [tfds.core.SplitInfo(name="train", shard_lengths=[NUM_EXAMPLES], num_bytes=0)]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)
  builder.info.features.save_config(builder.data_dir)
  requested = []

  def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False, **kwargs):
    requested.append(split)

    def examples():
      for i in range(NUM_EXAMPLES):
        image = np.zeros((32, 32, 3), np.uint8)
        image[..., 0] = i % 10
        image[..., 1] = i
        yield {"image": tf.io.encode_png(image).numpy(), "label": i % 10, "id": b"x"}

    return tf.data.Dataset.from_generator(examples, output_signature={
        "image": tf.TensorSpec((), tf.string), "label": tf.TensorSpec((), tf.int64),
        "id": tf.TensorSpec((), tf.string)})

  with tfds.testing.mock_data(as_dataset_fn=as_dataset, data_dir=str(tmp_path)):
    yield str(tmp_path), requested


def test_only_the_requested_class_reaches_each_stream(mock_cifar):
  data_dir, _ = mock_cifar
  loaded = tfds_source.load_class_images("cifar10", ("horse", "bird", "horse+bird"),
                                         data_dir=data_dir, image_size=32)
  assert loaded.labels == ("horse", "bird", "horse+bird")
  horses, birds, both = loaded.images
  assert horses.shape == (6, 32, 32, 3) and birds.shape == (6, 32, 32, 3)
  assert set(np.unique(horses[..., 0])) == {7}  # pixel value = label: only horses
  assert set(np.unique(birds[..., 0])) == {2}
  assert set(np.unique(both[..., 0])) == {2, 7} and len(both) == 12
  # and through the sampler, discriminator 0 (horse) only ever gets horse images
  sampler = ClassBalancedSampler(loaded.labels[:2], loaded.images[:2], local_batch=4, seed=0,
                               random_flip=False)
  for step in range(5):
    real = sampler.batch(step)["real"]
    np.testing.assert_allclose(real[0, ..., 0], 7 / 127.5 - 1)
    np.testing.assert_allclose(real[1, ..., 0], 2 / 127.5 - 1)


def test_class_ids_and_resize(mock_cifar):
  data_dir, _ = mock_cifar
  loaded = tfds_source.load_class_images("cifar10", (7,), data_dir=data_dir, image_size=16)
  assert loaded.labels == ("horse",)
  assert loaded.images[0].shape == (6, 16, 16, 3)


def test_each_process_reads_its_own_shard(mock_cifar):
  data_dir, requested = mock_cifar
  for index in range(2):
    tfds_source.load_class_images("cifar10", ("horse",), data_dir=data_dir, process_index=index,
                                  process_count=2)
  assert len(requested) == 2 and str(requested[0]) != str(requested[1])
  assert requested == tfds.even_splits("train", n=2, drop_remainder=True)


def test_unknown_class_name_lists_the_valid_ones(mock_cifar):
  data_dir, _ = mock_cifar
  with pytest.raises(ValueError, match=r"'pegasus' is not a class of cifar10; valid: \['airplane'"):
    tfds_source.load_class_images("cifar10", ("horse", "pegasus"), data_dir=data_dir)
  with pytest.raises(ValueError, match="out of range"):
    tfds_source.load_class_images("cifar10", (12,), data_dir=data_dir)
  with pytest.raises(ValueError, match="twice"):
    tfds_source.load_class_images("cifar10", ("horse", 7), data_dir=data_dir)


def test_missing_data_set_says_where_it_looked_and_what_to_do(tmp_path):
  with pytest.raises(tfds_source.DatasetMissingError) as info:
    tfds_source.load_class_images("cifar10", ("horse",), data_dir=str(tmp_path / "empty"),
                                  download=False)
  message = str(info.value)
  assert str(tmp_path / "empty") in message and "download_and_prepare" in message
  assert "data_dir" in message


def test_empty_class_is_a_clear_error():
  with pytest.raises(ValueError, match="class 'bird' has 1 images"):
    ClassBalancedSampler(("horse", "bird"), [np.zeros((8, 4, 4, 3), np.uint8),
                                            np.zeros((1, 4, 4, 3), np.uint8)],
                       local_batch=4, seed=0)


def test_sampler_is_a_pure_function_of_the_step():
  rng = np.random.default_rng(0)
  images = [rng.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8) for _ in range(2)]
  a = ClassBalancedSampler(("a", "b"), images, local_batch=3, seed=1)
  b = ClassBalancedSampler(("a", "b"), images, local_batch=3, seed=1)
  for step in (7, 0, 3, 7):  # any order, fresh instance: same batch
    np.testing.assert_array_equal(a.batch(step)["real"], b.batch(step)["real"])
  assert not np.array_equal(a.batch(0)["real"], a.batch(1)["real"])
  # one epoch (3 batches of 3 from 10 images) visits 9 distinct images of each class
  seen = np.concatenate([a.batch(s)["real"][0] for s in range(3)])
  assert len({x.tobytes() for x in seen}) == 9  # flipped random images stay distinct
  assert a.position(7) == {"a": {"epoch": 2, "batch_in_epoch": 1},
                           "b": {"epoch": 2, "batch_in_epoch": 1}}
  real = a.batch(0)["real"]
  assert real.dtype == np.float32 and real.min() >= -1 and real.max() <= 1


def test_epochs_are_permutations_without_flip():
  images = [np.arange(6, dtype=np.uint8).reshape(6, 1, 1, 1).repeat(3, -1)]
  sampler = ClassBalancedSampler(("a",), images, local_batch=2, seed=3, random_flip=False)
  for epoch in range(2):
    values = np.concatenate([sampler.batch(epoch * 3 + s)["real"][0, :, 0, 0, 0]
                             for s in range(3)])
    assert sorted(np.round((values + 1) * 127.5).astype(int)) == list(range(6))


@pytest.mark.skipif(not (SHARED_TFDS / "cifar10").is_dir(),
                    reason="../shared/tensorflow_datasets not present")
def test_real_cifar10_horse_and_bird_from_shared():
  data_dir = str(SHARED_TFDS)
  loaded = tfds_source.load_class_images("cifar10", ("horse", "bird"), data_dir=data_dir,
                                         download=False, image_size=32)
  assert [len(x) for x in loaded.images] == [5000, 5000]


# -- the other samplers -------------------------------------------------------------------------
def test_labelled_sampler_pairs_each_image_with_its_class_and_is_a_function_of_the_step():
  from pegasus_jax.data.samplers import LabelledSampler
  # Pixel value = 100 * class + index, so the label of every delivered image can be read back.
  images = [np.full((n, 2, 2, 1), 0, np.uint8) for n in (6, 9)]
  for k, x in enumerate(images):
    x[:, 0, 0, 0] = 100 * k + np.arange(len(x))
  a = LabelledSampler(("cat", "dog"), images, local_batch=5, seed=4, random_flip=False)
  b = LabelledSampler(("cat", "dog"), images, local_batch=5, seed=4, random_flip=False)
  assert {k: (v.shape, v.dtype) for k, v in a.fields.items()} == {
      "image": ((5, 2, 2, 1), "float32"), "label": ((5,), "int32")}
  seen = []
  for step in (0, 1, 2, 7):
    batch = a.batch(step)
    np.testing.assert_array_equal(batch["image"], b.batch(step)["image"])  # no hidden state
    pixel = np.round((batch["image"][:, 0, 0, 0] + 1) * 127.5).astype(int)
    np.testing.assert_array_equal(pixel // 100, batch["label"])
    seen.append(pixel)
  # one epoch = 15 // 5 = 3 steps: steps 0..2 cover 15 distinct images, uniformly over classes
  assert len(set(np.concatenate(seen[:3]).tolist())) == 15
  assert a.position(7) == {"epoch": 2, "batch_in_epoch": 1}


def test_synthetic_sampler_draws_the_configured_mixture_purely_from_the_step():
  from pegasus_jax.data.synthetic import GaussianMixture, SyntheticSampler
  mixture = GaussianMixture((-2.0, 3.0), (0.1, 0.1), (1.0, 3.0))
  sampler = SyntheticSampler(mixture, local_batch=4000, seed=1)
  x = sampler.batch(5)["x"]
  assert x.shape == (4000, 1) and x.dtype == np.float32
  np.testing.assert_array_equal(x, SyntheticSampler(mixture, local_batch=4000, seed=1).batch(5)["x"])
  assert not np.array_equal(x, sampler.batch(6)["x"])
  assert np.mean(x > 0) == pytest.approx(0.75, abs=0.03)  # weights 1:3
  assert np.mean(x[x > 0]) == pytest.approx(3.0, abs=0.02)


def test_synthetic_data_needs_its_fields_and_its_sampler():
  from pegasus_jax import data
  from pegasus_jax.config.defaults import base_config
  from pegasus_jax.errors import ConfigError
  config = base_config()
  config.data.name, config.data.sampler = "gaussian_mixture", "synthetic"
  with pytest.raises(ConfigError, match="needs config.data.mixture_means"):
    data.load_dataset(config)
  config.data.sampler = "labelled"
  with pytest.raises(ConfigError, match="goes with config.data.name='gaussian_mixture'"):
    data.load_dataset(config)
