"""Data: TFDS sources decoded once per host, a step-indexed sampler, and device prefetch.

Why step-indexed: the batch for step s is a pure function of (seed, s, process), so a resumed
run continues exactly where it stopped (bitwise) with no iterator to checkpoint -- the data
position *is* the step (also written into each checkpoint's metadata for inspection).
"""

from __future__ import annotations

import ml_collections

from pegasus_jax.data.sampler import StepIndexedSampler
from pegasus_jax.data.tfds_source import load_class_images


def create_sampler(config: ml_collections.ConfigDict, process_index: int,
                   process_count: int) -> StepIndexedSampler:
  """This process's sampler for `config.data`, delivering `batch_size * n_disc / processes`."""
  images = load_class_images(
      config.data.name, config.data.classes, split=config.data.split,
      data_dir=config.data.data_dir, download=config.data.download,
      image_size=config.model.image_size, channels=config.model.channels,
      process_index=process_index, process_count=process_count)
  local_batch = config.batch_size * config.n_disc // process_count
  return StepIndexedSampler(images.labels, images.images, local_batch=local_batch,
                            seed=config.seed, process_index=process_index,
                            random_flip=config.data.random_flip)
