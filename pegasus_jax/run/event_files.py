"""TensorBoard event files written through `pegasus_jax.run.paths`, for workdirs on object storage.

clu's SummaryWriter writes through `tf.summary`, i.e. TensorFlow's own file systems: its gs://
client talks to Google's servers only (it ignores `STORAGE_EMULATOR_HOST`), and it would be the
one writer in the job outside the path layer. This writer produces the same event records
(TFRecord-framed `Event` protos: scalars, images, hparams) and stores them with `paths`.

Object storage has no append: an object is replaced whole. So the writer keeps the current
file's records in memory and uploads the file at each flush and at most every
`upload_every_s` seconds (TensorBoard, reading the bucket, sees the file grow), and starts a
new file once one passes `max_file_bytes`, which bounds what each upload re-sends.
TensorBoard reads a run's event files in name order, and the names sort by creation time.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from typing import Any, Mapping

import numpy as np
from absl import logging
from clu.metric_writers import interface
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from pegasus_jax import imaging
from pegasus_jax.run import paths


class EventFileWriter(interface.MetricWriter):
  """A clu MetricWriter that writes scalars, images and hparams as TensorBoard event files."""

  def __init__(self, logdir: paths.PathLike, *, upload_every_s: float = 60.0,
               max_file_bytes: int = 8 * 2**20):
    self.logdir = str(paths.resolve(logdir))
    self.upload_every_s = upload_every_s
    self.max_file_bytes = max_file_bytes
    self._lock = threading.Lock()
    self._sequence = 0
    self._warned: set[str] = set()
    self._new_file()

  def _new_file(self) -> None:
    self._sequence += 1
    self._path = os.path.join(
        self.logdir, f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}."
        f"{os.getpid()}.{self._sequence}.v2")
    self._buffer = io.BytesIO()
    self._records = RecordWriter(self._buffer)
    self._uploaded_size = -1
    self._last_upload = time.monotonic()
    self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

  def _add(self, event: event_pb2.Event) -> None:
    self._records.write(event.SerializeToString())

  def _add_summary(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
    with self._lock:
      self._add(event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=values)))
      if self._buffer.tell() >= self.max_file_bytes:
        self._upload()
        self._new_file()
      elif time.monotonic() - self._last_upload >= self.upload_every_s:
        self._upload()

  def _upload(self) -> None:
    """Replace the current file's object with everything recorded so far (lock held)."""
    if self._buffer.tell() != self._uploaded_size:
      paths.write_bytes(self._path, self._buffer.getvalue())
      self._uploaded_size = self._buffer.tell()
    self._last_upload = time.monotonic()

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    self._add_summary(step, [
        summary_pb2.Summary.Value(
            tag=name, tensor=tensor_util.make_tensor_proto(np.float32(value)),
            metadata=scalar_metadata.create_summary_metadata(display_name=name,
                                                             description=""))
        for name, value in scalars.items()])

  def write_images(self, step: int, images: Mapping[str, Any]) -> None:
    """Each value: uint8 (N, H, W, C) or (H, W, C); up to 3 images per tag, as tf.summary."""
    values = []
    for name, batch in images.items():
      batch = np.asarray(batch)
      batch = batch[None] if batch.ndim == 3 else batch
      if batch.dtype != np.uint8:
        batch = np.clip(np.round(batch * 255.0), 0, 255).astype(np.uint8)  # floats in [0, 1]
      content = [str(batch.shape[2]).encode(), str(batch.shape[1]).encode()] + [
          imaging.png_bytes(image) for image in batch[:3]]
      values.append(summary_pb2.Summary.Value(
          tag=name, tensor=tensor_util.make_tensor_proto(content, dtype=np.object_),
          metadata=image_metadata.create_summary_metadata(display_name=name,
                                                          description="")))
    self._add_summary(step, values)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    summary = hparams_summary.hparams_pb(dict(hparams))
    self._add_summary(0, list(summary.value))

  def _not_written(self, kind: str) -> None:
    """Kinds the loop never writes: said once in the log rather than silently dropped."""
    if kind not in self._warned:
      self._warned.add(kind)
      logging.warning("%s are not written to the event files in %s (only scalars, images and "
                      "hparams are); they still go to the log", kind, self.logdir)

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    self._not_written("texts")

  def write_summaries(self, step: int, values: Mapping[str, Any],
                      metadata: Mapping[str, Any] | None = None) -> None:
    self._not_written("raw summaries")

  def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
    self._not_written("videos")

  def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
    self._not_written("audios")

  def write_histograms(self, step: int, arrays: Mapping[str, Any],
                       num_buckets: Mapping[str, int] | None = None) -> None:
    self._not_written("histograms")

  def flush(self) -> None:
    with self._lock:
      self._upload()

  def close(self) -> None:
    self.flush()
