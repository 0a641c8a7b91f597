"""Read a TFDS image-classification data set, keep the requested classes, decode to memory.

Each process reads a disjoint shard (`tfds.even_splits`), filters by label *before* decoding
(CIFAR-10 horse+bird: 10k of 50k images, ~4 s on 2 cores), and returns one uint8 array per
requested class. A class entry may be a name ('horse'), an id (7), a union ('horse+bird') or
'all' (every image of the split as one class). Data sets without a 'label' feature (celeb_a)
can only be used as `data.classes=('all',)`: single-discriminator training on every image.

TensorFlow and TFDS are imported only when a TFDS set is read, so image folders and synthetic
data work where TensorFlow is not installed (the lent GPU machines: benchmarks/device_run.sh).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pegasus_jax.errors import ConfigError, UserError

if TYPE_CHECKING:
  import tensorflow as tf
  import tensorflow_datasets as tfds


ALL_CLASSES = "all"  # the class entry meaning "every image", labelled or not


@dataclasses.dataclass(frozen=True)
class ClassImages:
  labels: tuple[str, ...]  # one display label per requested class, e.g. ('horse', 'bird')
  images: list[np.ndarray]  # uint8 (N_c, H, W, C) per class


class DatasetMissingError(UserError, FileNotFoundError):
  """The TFDS data set is not prepared where we looked (and downloading is off or failed)."""


def _tfds_default_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets (TFDS's default)")


def resolve_class_ids(name: str, classes: Sequence[str | int],
                      label_names: Sequence[str]) -> list[tuple[str, tuple[int, ...]]]:
  """Map class entries to (label, ids); unknown names/ids raise ValueError listing the valid ones."""
  resolved = []
  for entry in classes:
    parts = str(entry).split("+") if isinstance(entry, str) else [entry]
    ids = []
    for part in parts:
      part = part.strip() if isinstance(part, str) else part
      if part == ALL_CLASSES and ALL_CLASSES not in label_names:
        ids.extend(range(len(label_names)))
        continue
      if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
        class_id = int(part)
        if not 0 <= class_id < len(label_names):
          raise ConfigError(f"config.data.classes: id {class_id} is out of range for {name} "
                           f"(0..{len(label_names) - 1}: {list(label_names)})")
      elif part in label_names:
        class_id = list(label_names).index(part)
      else:
        raise ConfigError(f"config.data.classes: {part!r} is not a class of {name}; "
                         f"valid: {list(label_names)} (or their ids, or 'a+b' for a union)")
      ids.append(class_id)
    label = (ALL_CLASSES if entry == ALL_CLASSES and ALL_CLASSES not in label_names
             else "+".join(label_names[i] for i in ids))
    resolved.append((label, tuple(ids)))
  labels = [label for label, _ in resolved]
  if len(set(labels)) != len(labels):
    raise ConfigError(f"config.data.classes lists a class twice: {labels}")
  return resolved


def _builder(name: str, data_dir: str | None, download: bool) -> tfds.core.DatasetBuilder:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ConfigError(f"config.data.name={name!r} is not a TFDS data set ({e})") from None
  if builder.is_prepared():
    return builder
  where = builder.data_dir
  how = (f"prepare it with `tfds.builder({name!r}, data_dir=DIR).download_and_prepare()` on a "
         f"machine with a network (or manually, see the TFDS catalog for {name}), then pass "
         f"--config.data.data_dir=DIR (now: {data_dir or _tfds_default_dir()}).")
  if not download:
    raise DatasetMissingError(
        f"TFDS data set {name!r} is not prepared at {where} and config.data.download=False; "
        + how)
  try:
    builder.download_and_prepare()
  except Exception as e:  # network errors come in many types; keep the cause attached
    raise DatasetMissingError(
        f"TFDS data set {name!r} is not prepared at {where} and downloading it failed "
        f"({type(e).__name__}: {e}); " + how) from e
  return builder


def load_class_images(name: str, classes: Sequence[str | int], *, split: str = "train",
                      data_dir: str | None = None, download: bool = True,
                      image_size: int | None = None, channels: int = 3,
                      process_index: int = 0, process_count: int = 1) -> ClassImages:
  """This process's share of the requested classes, decoded to uint8 arrays in memory."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # read TFDS only
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = _builder(name, data_dir, download)
  try:  # a split string: 'train', or a slice such as 'train[:45000]' / 'train[90%:]'
    builder.info.splits[split]
  except (KeyError, ValueError, AssertionError):
    raise ConfigError(f"config.data.split={split!r} is not available for {name} at "
                     f"{builder.data_dir}; available: {list(builder.info.splits)} (or "
                     "slices such as 'train[:45000]')") from None
  shard = tfds.even_splits(split, n=process_count, drop_remainder=True)[process_index]
  features = builder.info.features
  label_feature = features["label"] if "label" in features else None
  if not isinstance(label_feature, tfds.features.ClassLabel):
    return _load_unlabelled(builder, name, classes, shard, image_size, channels,
                            process_index, process_count)
  resolved = resolve_class_ids(name, classes, label_feature.names)
  ds = builder.as_dataset(split=shard, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})
  wanted = tf.constant(sorted({i for _, ids in resolved for i in ids}), tf.int64)
  if len(wanted) < len(label_feature.names):  # 'all' (or every class) needs no filter
    ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(ex["label"], wanted)))

  def decode(ex):
    image = tf.io.decode_image(ex["image"], channels=channels, expand_animations=False)
    image = _square_resize(image, image_size)
    return {"image": image, "label": ex["label"]}

  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  images, labels = [], []
  for batch in tfds.as_numpy(ds):
    images.append(batch["image"])
    labels.append(batch["label"])
  images = np.concatenate(images) if images else np.zeros((0, 1, 1, channels), np.uint8)
  labels = np.concatenate(labels) if labels else np.zeros((0,), np.int64)

  per_class = []
  for label, ids in resolved:
    selected = images[np.isin(labels, ids)]
    if len(selected) == 0:
      raise ConfigError(
          f"config.data.classes: class {label!r} has no images in {name} split {shard!r} "
          f"(process {process_index} of {process_count}); check the split and classes")
    per_class.append(selected)
  return ClassImages(tuple(label for label, _ in resolved), per_class)


def _load_unlabelled(builder: tfds.core.DatasetBuilder, name: str,
                     classes: Sequence[str | int], shard: str, image_size: int | None,
                     channels: int, process_index: int, process_count: int) -> ClassImages:
  """A data set without a ClassLabel 'label' (celeb_a): every image of the shard, one class.

  Decoded straight into one preallocated array: full CelebA at 128x128 is ~8 GB of uint8, and
  collecting batches then concatenating would need twice that.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # read TFDS only
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if [str(c) for c in classes] != [ALL_CLASSES]:
    raise ConfigError(
        f"config.data.classes={tuple(classes)!r}: TFDS data set {name!r} has no 'label' "
        f"feature, so it can only be used as one class of every image: "
        f"--config.data.classes=\"('{ALL_CLASSES}',)\"")
  if "image" not in builder.info.features:
    raise ConfigError(f"TFDS data set {name!r} has no 'image' feature; features: "
                     f"{list(builder.info.features)}")
  ds = builder.as_dataset(split=shard, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})

  def decode(ex):
    image = tf.io.decode_image(ex["image"], channels=channels, expand_animations=False)
    return _square_resize(image, image_size)

  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  total = builder.info.splits[shard].num_examples
  images = None
  filled = 0
  for batch in tfds.as_numpy(ds):
    if images is None:
      images = np.empty((total,) + batch.shape[1:], np.uint8)
    images[filled:filled + len(batch)] = batch
    filled += len(batch)
  if not filled:
    raise ConfigError(f"TFDS data set {name!r} split {shard!r} has no images (process "
                     f"{process_index} of {process_count})")
  return ClassImages((ALL_CLASSES,), [images[:filled]])


def _square_resize(image: tf.Tensor, size: int | None) -> tf.Tensor:
  """Center-crop to a square, then resize to size x size (no-op when already that size)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if size is None:
    return image
  shape = tf.shape(image)
  h, w = shape[0], shape[1]
  side = tf.minimum(h, w)
  image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
  resized = tf.image.resize(image, (size, size), method="area", antialias=True)
  resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
  return tf.cond(tf.equal(side, size), lambda: image, lambda: resized)
