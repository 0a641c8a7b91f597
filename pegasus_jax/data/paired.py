"""Two unpaired image domains zipped into one batch: {'a': (n, H, W, C_a), 'b': (n, H', W', C_b)}.

CycleGAN learns from two image sets that share no pairs (MNIST digits and coloured digits, or
MNIST and SVHN house numbers). Domain A is `config.data` itself; domain B is
`config.data.domain_b` (the fields DOMAIN_FIELDS; their defaults `domain_b_config` and checks
`DOMAIN_B_CHECKS` are here, and a family with two domains adds them to its config), with
data_dir and download shared, so each domain has its own source, size
and channels. Domain B is read with the same `load_images` as any data set (`domain_configs`
builds its plain data config).

Like every sampler here the batch for step s is a pure function of (seed, s, process): each
domain is its own stream with its own per-epoch permutation (streams 0 and 1 of the seed), so the
two shuffles are independent and a domain's epoch ends when it runs out, not when the other does.
Labels are not delivered: the domains are unpaired and the translation learns without them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import numpy as np

from pegasus_jax.data.samplers import (_check_enough, _EpochPermutations, _flip_mask,
                                       to_model_range)
from pegasus_jax.config import checks
from pegasus_jax.data.spec import TRANSFORMS, DataInfo, FieldSpec
from pegasus_jax.data.tfds_source import ClassImages
from pegasus_jax.errors import ConfigError

DOMAINS = ("a", "b")
# The fields of config.data.domain_b: what may differ between the two domains.
DOMAIN_FIELDS = ("name", "path", "classes", "split", "image_size", "channels", "transform")


def domain_b_config() -> ml_collections.ConfigDict:
  """config.data.domain_b: the second domain's data settings (the same names as config.data)."""
  domain = ml_collections.ConfigDict()
  domain.name = "mnist"
  domain.path = ml_collections.config_dict.placeholder(str)  # for name='image_folder'
  domain.classes = ("all",)
  domain.split = "train[30000:]"
  domain.image_size = 32
  domain.channels = 3
  domain.transform = "colour"
  return domain


def _classes(value: Any) -> str | None:
  if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value or any(
      isinstance(item, bool) or not isinstance(item, (str, int)) or item == "" for item in value):
    return "must be a non-empty tuple of class names or ids, e.g. ('all',)"
  return None


DOMAIN_B_CHECKS: dict[str, checks.Check] = {
    "data.domain_b.name": checks.non_empty_str,
    "data.domain_b.path": checks.optional_str,
    "data.domain_b.classes": _classes,
    "data.domain_b.split": checks.non_empty_str,
    "data.domain_b.image_size": checks.positive_int,
    "data.domain_b.channels": checks.one_of(1, 3),
    "data.domain_b.transform": checks.one_of(*TRANSFORMS),
}


def check_domain_channels(config: ml_collections.ConfigDict) -> None:
  """ConfigError where a domain's transform makes RGB images but its channels are not 3."""
  for prefix, domain in (("data", config.data), ("data.domain_b", config.data.domain_b)):
    if domain.transform == "colour" and domain.channels != 3:
      raise ConfigError(f"config.{prefix}.transform='colour' makes RGB images: set "
                        f"config.{prefix}.channels=3 (now {domain.channels})")


def domain_configs(config: ml_collections.ConfigDict
                   ) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
  """Each domain as a plain config whose `data` block describes only that domain.

  Domain A is `config.data` without domain_b; domain B is the same with domain_b's fields over
  it (data_dir, download and random_flip stay shared).
  """
  if "domain_b" not in config.data:
    raise ConfigError("config.data.sampler='paired' needs config.data.domain_b (the second "
                      "domain's name, classes, split, image_size, channels and transform); "
                      "use a family whose config has it (configs/cyclegan_mnist.py)")
  domain_a = ml_collections.ConfigDict(config.to_dict())
  del domain_a.data["domain_b"]
  domain_b = ml_collections.ConfigDict(domain_a.to_dict())
  for field in DOMAIN_FIELDS:
    domain_b.data[field] = config.data.domain_b[field]
  for domain in (domain_a, domain_b):
    domain.data.classes = tuple(domain.data.classes)
  return domain_a, domain_b


def domain_label(data: ml_collections.ConfigDict) -> str:
  """A domain's name in checkpoints and logs: 'mnist:train[:30000]:colour'."""
  parts = [str(data.name), str(data.split)]
  if data.get("transform"):
    parts.append(str(data.transform))
  return ":".join(parts)


class PairedSampler:
  """`batch(step)` -> {'a': float32 (n, *shape_a), 'b': float32 (n, *shape_b)} in [-1, 1]."""

  name = "paired"

  def __init__(self, labels: tuple[str, str], images_a: np.ndarray, images_b: np.ndarray, *,
               local_batch: int, seed: int, process_index: int = 0, random_flip: bool = False):
    self.labels = tuple(labels)
    self.domain_images = (images_a, images_b)
    _check_enough(self.labels, self.domain_images, local_batch)
    self.local_batch = local_batch
    self.seed = seed
    self.process_index = process_index
    self.random_flip = random_flip
    self._permutations = _EpochPermutations([len(x) for x in self.domain_images], seed,
                                            process_index)

  @property
  def fields(self) -> dict[str, FieldSpec]:
    return {domain: FieldSpec((self.local_batch,) + images.shape[1:], "float32")
            for domain, images in zip(DOMAINS, self.domain_images)}

  def position(self, step: int) -> dict[str, dict[str, int]]:
    """Where each domain's stream stands before `step`: {'a': {'epoch', 'batch_in_epoch'}, ...}."""
    out = {}
    for domain, images in zip(DOMAINS, self.domain_images):
      epoch, offset = divmod(step, len(images) // self.local_batch)
      out[domain] = {"epoch": epoch, "batch_in_epoch": offset}
    return out

  def batch(self, step: int) -> dict[str, np.ndarray]:
    out = {}
    for stream, (domain, images) in enumerate(zip(DOMAINS, self.domain_images)):
      chosen = images[self._permutations.indices(stream, step, self.local_batch)]
      flip = _flip_mask(self.random_flip, self.seed, stream, step, self.process_index,
                        self.local_batch)
      out[domain] = to_model_range(chosen, flip)
    return out


@dataclasses.dataclass
class PairedDataset:
  """The decoded images of two domains, each domain's classes pooled (labels are not used)."""

  images_a: np.ndarray  # uint8 (N_a, H, W, C_a)
  images_b: np.ndarray  # uint8 (N_b, H', W', C_b)
  labels: tuple[str, str]  # the domains' names (`domain_label`)
  random_flip: bool

  @classmethod
  def from_class_images(cls, domain_a: ClassImages, domain_b: ClassImages,
                        labels: tuple[str, str], random_flip: bool) -> "PairedDataset":
    return cls(np.concatenate(domain_a.images), np.concatenate(domain_b.images), labels,
               random_flip)

  @property
  def info(self) -> DataInfo:
    return DataInfo(self.labels, {"a": tuple(self.images_a.shape[1:]),
                                  "b": tuple(self.images_b.shape[1:])})

  def sampler(self, local_examples: int, seed: int, process_index: int) -> PairedSampler:
    return PairedSampler(self.labels, self.images_a, self.images_b, local_batch=local_examples,
                         seed=seed, process_index=process_index, random_flip=self.random_flip)
