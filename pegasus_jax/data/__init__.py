"""Data: sources decoded once per host, step-indexed samplers, prefetch to the devices.

Sources: TFDS image sets (`data.tfds_source`), image folders (`data.image_folder`, chosen by
`config.data.name='image_folder'`), and seeded synthetic data (`data.synthetic`,
`config.data.name='gaussian_mixture'`). Samplers (`config.data.sampler`) decide what a batch
holds: 'class_balanced' {'real': (K, n, H, W, C)}, 'labelled' {'image', 'label'}, 'synthetic'
{'x'}, 'paired' {'a', 'b'} (two unpaired domains, `data.paired`). The resolution, channels and
a transform (`data.transforms`, e.g. coloured digits) are data settings (`data.image_size`,
`data.channels`, `data.transform`).

`load_dataset` reads the source once and reports a `DataInfo` (labels, example shapes) from which
a family is built; the family then says how many examples a step consumes and
`Dataset.sampler` makes the sampler for this process's share.

Why step-indexed: the batch for step s is a pure function of (seed, s, process), so a resumed
run continues exactly where it stopped (bitwise) with no iterator to checkpoint -- the data
position *is* the step (also written into each checkpoint's metadata for inspection).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol

import ml_collections
import numpy as np

from pegasus_jax.data import paired, synthetic, transforms
from pegasus_jax.data.image_folder import load_folder_images
from pegasus_jax.data.samplers import ClassBalancedSampler, LabelledSampler
from pegasus_jax.data.spec import SAMPLERS, DataInfo, FieldSpec
from pegasus_jax.data.tfds_source import ClassImages, DatasetMissingError, load_class_images
from pegasus_jax.errors import ConfigError

IMAGE_FOLDER = "image_folder"


class Sampler(Protocol):
  name: str
  labels: tuple[str, ...]
  fields: Mapping[str, FieldSpec]  # this process's batch

  def batch(self, step: int) -> dict[str, np.ndarray]: ...

  def position(self, step: int) -> dict[str, Any]: ...


def load_images(config: ml_collections.ConfigDict, process_index: int = 0,
                process_count: int = 1) -> ClassImages:
  """This process's share of `config.data`, decoded to uint8 per class, from either source."""
  data = config.data
  if data.name == IMAGE_FOLDER:
    if not data.path:
      raise ConfigError("config.data.name='image_folder' needs --config.data.path=DIR")
    loaded = load_folder_images(
        data.path, data.classes, image_size=data.image_size, channels=data.channels,
        process_index=process_index, process_count=process_count)
  else:
    loaded = load_class_images(
        data.name, data.classes, split=data.split, data_dir=data.data_dir,
        download=data.download, image_size=data.image_size, channels=data.channels,
        process_index=process_index, process_count=process_count)
  transform = data.get("transform", "")  # runs saved before the field existed have none
  if not transform:
    return loaded
  return ClassImages(loaded.labels, [transforms.apply(transform, images, data.channels)
                                     for images in loaded.images])


@dataclasses.dataclass
class ImageDataset:
  """Decoded class images; samples them class-balanced or uniformly with labels."""

  images: ClassImages
  sampler_name: str
  random_flip: bool

  @property
  def info(self) -> DataInfo:
    return DataInfo(self.images.labels, {"image": tuple(self.images.images[0].shape[1:])})

  def sampler(self, local_examples: int, seed: int, process_index: int) -> Sampler:
    cls = {"class_balanced": ClassBalancedSampler, "labelled": LabelledSampler}[
        self.sampler_name]
    return cls(self.images.labels, self.images.images, local_batch=local_examples, seed=seed,
               process_index=process_index, random_flip=self.random_flip)


@dataclasses.dataclass
class SyntheticDataset:
  """A seeded distribution: nothing to read."""

  mixture: synthetic.GaussianMixture

  @property
  def info(self) -> DataInfo:
    return DataInfo(synthetic.SyntheticSampler.labels, {"x": (1,)})

  def sampler(self, local_examples: int, seed: int, process_index: int) -> Sampler:
    return synthetic.SyntheticSampler(self.mixture, local_batch=local_examples, seed=seed,
                                      process_index=process_index)


Dataset = ImageDataset | SyntheticDataset | paired.PairedDataset


def load_dataset(config: ml_collections.ConfigDict, process_index: int = 0,
                 process_count: int = 1) -> Dataset:
  """Read (or define) this process's data once; the sampler comes later, from the family."""
  data = config.data
  sampler_name = data.get("sampler", "class_balanced")
  if sampler_name not in SAMPLERS:
    raise ConfigError(f"config.data.sampler={sampler_name!r} must be one of {list(SAMPLERS)}")
  if data.name == synthetic.NAME or sampler_name == "synthetic":
    if data.name != synthetic.NAME or sampler_name != "synthetic":
      raise ConfigError(f"config.data.sampler='synthetic' goes with config.data.name="
                        f"{synthetic.NAME!r} (got name={data.name!r}, sampler={sampler_name!r})")
    fields = ("mixture_means", "mixture_stds", "mixture_weights")
    missing = [f for f in fields if f not in data]
    if missing:
      raise ConfigError(f"config.data.name={synthetic.NAME!r} needs config.data.{missing[0]}")
    return SyntheticDataset(synthetic.GaussianMixture(
        data.mixture_means, data.mixture_stds, data.mixture_weights))
  if sampler_name == "paired":
    domains = paired.domain_configs(config)
    return paired.PairedDataset.from_class_images(
        *(load_images(domain, process_index, process_count) for domain in domains),
        labels=tuple(paired.domain_label(domain.data) for domain in domains),
        random_flip=data.random_flip)
  return ImageDataset(load_images(config, process_index, process_count), sampler_name,
                      data.random_flip)


__all__ = ["ClassImages", "DataInfo", "Dataset", "DatasetMissingError", "ImageDataset",
           "Sampler", "SyntheticDataset", "load_dataset", "load_images"]
