"""Image folders as training data: decoding, white compositing, labels, errors, config checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from pegasus_jax import data
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data import image_folder
from pegasus_jax.data.tfds_source import DatasetMissingError, resolve_class_ids
from pegasus_jax.families.jointgan import jointgan_config


def _save(path, array, mode=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.asarray(array, np.uint8), mode).save(path)


@pytest.fixture
def folder(tmp_path):
  """horse/ (2 JPEG-free PNGs, one nested), bird/ (an RGBA PNG, a JPEG), a broken file, junk."""
  root = tmp_path / "images"
  rng = np.random.default_rng(0)
  _save(root / "horse" / "a.png", rng.integers(0, 256, (12, 16, 3)))  # wide: center crop
  _save(root / "horse" / "deep" / "b.png", np.full((8, 8, 3), 10))
  rgba = np.zeros((8, 8, 4), np.uint8)
  rgba[...] = (200, 0, 100, 128)  # half-transparent pink
  _save(root / "bird" / "c.png", rgba, "RGBA")
  _save(root / "bird" / "d.jpg", np.full((20, 20, 3), 128))
  (root / "bird" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
  (root / "notes.txt").write_text("not an image")
  (root / ".hidden").mkdir()
  _save(root / ".hidden" / "e.png", np.zeros((8, 8, 3)))
  return str(root)


def test_lists_recursively_sorted_and_skips_hidden_and_non_images(folder):
  assert image_folder.list_image_files(folder) == [
      "bird/broken.jpg", "bird/c.png", "bird/d.jpg", "horse/a.png", "horse/deep/b.png"]


def test_all_is_one_class_and_broken_files_are_skipped_with_a_count(folder, caplog):
  images = image_folder.load_folder_images(folder, ("all",), image_size=8)
  assert images.labels == ("all",)
  assert images.images[0].shape == (4, 8, 8, 3) and images.images[0].dtype == np.uint8
  assert "skipped 1 unreadable file(s) of 5: bird/broken.jpg" in caplog.text


def test_rgba_is_composited_on_white(folder):
  images = image_folder.load_folder_images(folder, ("bird",), image_size=8)
  pink = images.images[0][0]  # bird/c.png sorts first
  alpha = 128 / 255
  expected = np.round(np.array([200, 0, 100]) * alpha + 255 * (1 - alpha))
  np.testing.assert_array_equal(pink, np.broadcast_to(expected, (8, 8, 3)))
  np.testing.assert_array_equal(images.images[0][1], np.full((8, 8, 3), 128))  # JPEG: grey


def test_center_crop_then_area_resize(tmp_path):
  array = np.zeros((4, 12, 3), np.uint8)
  array[:, 4:8] = 255  # the centre square is white, the sides black
  _save(tmp_path / "x.png", array)
  out = image_folder.decode_image(str(tmp_path / "x.png"), 2)
  np.testing.assert_array_equal(out, np.full((2, 2, 3), 255))
  grey = image_folder.decode_image(str(tmp_path / "x.png"), 2, channels=1)
  assert grey.shape == (2, 2, 1)


def test_sub_folders_are_classes_with_unions(folder):
  images = image_folder.load_folder_images(folder, ("horse", "bird+horse/deep"), image_size=8)
  assert images.labels == ("horse", "bird+horse/deep")
  assert [len(x) for x in images.images] == [2, 3]  # nested b.png counts for horse


def test_unknown_sub_folder_lists_the_valid_ones(folder):
  with pytest.raises(ValueError, match=r"'cat' is not a sub-folder.*\['bird', 'horse'\]"):
    image_folder.load_folder_images(folder, ("cat",), image_size=8)


def test_processes_read_disjoint_shards(folder):
  shards = [image_folder.load_folder_images(folder, ("horse",), image_size=8,
                                            process_index=i, process_count=2) for i in (0, 1)]
  assert [len(s.images[0]) for s in shards] == [1, 1]
  assert not np.array_equal(shards[0].images[0], shards[1].images[0])


def test_missing_empty_and_unreadable_folders_are_clear_errors(tmp_path):
  with pytest.raises(DatasetMissingError, match="is not a directory"):
    image_folder.load_folder_images(str(tmp_path / "nope"))
  (tmp_path / "empty" / "sub").mkdir(parents=True)
  with pytest.raises(DatasetMissingError, match="holds no JPEG/PNG files"):
    image_folder.load_folder_images(str(tmp_path / "empty"))
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
  with pytest.raises(DatasetMissingError, match="no readable images"):
    image_folder.load_folder_images(str(tmp_path / "bad"), image_size=8)


def _folder_config(path):
  config = jointgan_config()
  config.family = "dcgan"
  config.data.name = "image_folder"
  config.data.path = path
  config.data.classes = ("all",)
  config.data.image_size = 8
  config.batch_size = 2
  return config


def test_config_requires_an_existing_path(folder, tmp_path):
  validate_config(_folder_config(folder))
  with pytest.raises(ValueError, match="config.data.path is required"):
    validate_config(_folder_config(None))
  with pytest.raises(ValueError, match="is not an existing directory"):
    validate_config(_folder_config(str(tmp_path / "nope")))
  tfds_config = jointgan_config()  # TFDS sources ignore data.path
  validate_config(tfds_config)


def test_load_dataset_dispatches_on_data_name(folder):
  dataset = data.load_dataset(_folder_config(folder), 0, 1)
  assert dataset.info.labels == ("all",) and dataset.info.example_shapes == {"image": (8, 8, 3)}
  sampler = dataset.sampler(2, seed=0, process_index=0)
  assert sampler.batch(0)["real"].shape == (1, 2, 8, 8, 3)


def test_all_resolves_to_every_tfds_class():
  names = ["airplane", "horse", "bird"]
  assert resolve_class_ids("x", ("all", "horse"), names) == [
      ("all", (0, 1, 2)), ("horse", (1,))]
  assert resolve_class_ids("x", ("all",), ["all", "other"]) == [("all", (0,))]


def test_celeba_like_unlabelled_tfds_needs_all(tmp_path):
  """A TFDS set without 'label' (celeb_a's shape) loads as one class and rejects named classes."""
  tfds = pytest.importorskip("tensorflow_datasets")
  from pegasus_jax.data import tfds_source

  class PegasusTestFaces(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          "image": tfds.features.Image(shape=(12, 10, 3), encoding_format="jpeg"),
          "attributes": {"Smiling": np.bool_}}))

    def _split_generators(self, dl_manager):
      return {"train": self._generate_examples()}

    def _generate_examples(self):
      for i in range(6):
        yield i, {"image": np.full((12, 10, 3), 40 * i, np.uint8),
                  "attributes": {"Smiling": bool(i % 2)}}

  PegasusTestFaces(data_dir=str(tmp_path)).download_and_prepare()
  images = tfds_source.load_class_images("pegasus_test_faces", ("all",), data_dir=str(tmp_path),
                                         download=False, image_size=8)
  assert images.labels == ("all",) and images.images[0].shape == (6, 8, 8, 3)
  assert np.abs(images.images[0][3].astype(int) - 120).max() <= 2  # JPEG of a flat grey
  with pytest.raises(ValueError, match="has no 'label' feature"):
    tfds_source.load_class_images("pegasus_test_faces", ("smiling",), data_dir=str(tmp_path),
                                  download=False, image_size=8)
