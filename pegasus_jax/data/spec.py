"""What a batch holds: field names, global shapes, dtypes and the batch axis of each field.

A family declares the spec it consumes (`Family.data_spec`), a sampler the spec it delivers
(per process); the loop checks one against the other before compiling and builds one sharding
per field from it. Families import it to name their fields; importing `pegasus_jax.data` loads no
TensorFlow (the TFDS source imports it when it reads).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from pegasus_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class FieldSpec:
  """One batch field: shape (global for a family, per process for a sampler), dtype, batch axis."""

  shape: tuple[int, ...]
  dtype: str
  batch_axis: int = 0

  def __post_init__(self):
    if not 0 <= self.batch_axis < len(self.shape):
      raise ValueError(f"batch_axis {self.batch_axis} is outside shape {self.shape}")
    object.__setattr__(self, "dtype", np.dtype(self.dtype).name)

  def scaled_batch(self, factor: int) -> "FieldSpec":
    """The same field with the batch axis `factor` times as long (per process -> global)."""
    shape = list(self.shape)
    shape[self.batch_axis] *= factor
    return dataclasses.replace(self, shape=tuple(shape))


DataSpec = Mapping[str, FieldSpec]


@dataclasses.dataclass(frozen=True)
class DataInfo:
  """What a family is built from: class labels and the shape of one example of each field.

  Image sets: {'image': (H, W, C)}; synthetic 1-D data: {'x': (1,)}. Saved with every checkpoint,
  so a run can be rebuilt without reading its data.
  """

  labels: tuple[str, ...]
  example_shapes: Mapping[str, tuple[int, ...]]


def describe(spec: DataSpec) -> str:
  return ", ".join(f"{name}: {field.dtype}{list(field.shape)} (batch axis {field.batch_axis})"
                   for name, field in sorted(spec.items()))


def check_delivers(consumed: DataSpec, delivered_per_process: DataSpec, process_count: int,
                   sampler_name: str, family_name: str) -> None:
  """ConfigError unless the sampler delivers exactly the fields, shapes and dtypes consumed."""
  delivered = {name: field.scaled_batch(process_count)
               for name, field in delivered_per_process.items()}
  if set(consumed) != set(delivered) or any(consumed[n] != delivered[n] for n in consumed):
    raise ConfigError(
        f"family {family_name!r} consumes batches of [{describe(consumed)}], but "
        f"config.data.sampler={sampler_name!r} delivers [{describe(delivered)}] (global, "
        f"{process_count} process(es)); choose the sampler the family's config sets")


# `config.data.sampler` values (`pegasus_jax.data` builds them): which fields a batch holds.
SAMPLERS = ("class_balanced", "labelled", "synthetic", "paired")

# `config.data.transform` values (`pegasus_jax.data.transforms` applies them to decoded images):
# '' none; 'colour': every image's ink and paper get their own seeded colours (3 channels).
TRANSFORMS = ("", "colour")
