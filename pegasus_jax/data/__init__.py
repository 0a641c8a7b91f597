"""Data: TFDS sources or image folders decoded once per host, a step-indexed sampler, prefetch.

`config.data.name` picks the source: 'image_folder' reads `config.data.path` (any folder of
JPEG/PNG files, `data.image_folder`); every other name is a TFDS data set (`data.tfds_source`).
Both return the same `ClassImages`, so everything after the source is shared.

Why step-indexed: the batch for step s is a pure function of (seed, s, process), so a resumed
run continues exactly where it stopped (bitwise) with no iterator to checkpoint -- the data
position *is* the step (also written into each checkpoint's metadata for inspection).
"""

from __future__ import annotations

import ml_collections

from pegasus_jax.data.image_folder import load_folder_images
from pegasus_jax.data.sampler import StepIndexedSampler
from pegasus_jax.data.tfds_source import ClassImages, load_class_images

IMAGE_FOLDER = "image_folder"


def load_images(config: ml_collections.ConfigDict, process_index: int = 0,
                process_count: int = 1) -> ClassImages:
  """This process's share of `config.data`, decoded to uint8 per class, from either source."""
  if config.data.name == IMAGE_FOLDER:
    if not config.data.path:
      raise ValueError("config.data.name='image_folder' needs --config.data.path=DIR")
    return load_folder_images(
        config.data.path, config.data.classes, image_size=config.model.image_size,
        channels=config.model.channels, process_index=process_index,
        process_count=process_count)
  return load_class_images(
      config.data.name, config.data.classes, split=config.data.split,
      data_dir=config.data.data_dir, download=config.data.download,
      image_size=config.model.image_size, channels=config.model.channels,
      process_index=process_index, process_count=process_count)


def create_sampler(config: ml_collections.ConfigDict, process_index: int,
                   process_count: int) -> StepIndexedSampler:
  """This process's sampler for `config.data`, delivering `batch_size * n_disc / processes`."""
  images = load_images(config, process_index, process_count)
  local_batch = config.batch_size * config.n_disc // process_count
  return StepIndexedSampler(images.labels, images.images, local_batch=local_batch,
                            seed=config.seed, process_index=process_index,
                            random_flip=config.data.random_flip)
