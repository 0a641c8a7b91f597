"""Process set-up shared by the command-line tools (train, sample, evaluate, latent).

Two things every tool wants before it touches data or devices:
- TensorFlow (used only for tf.data/TFDS reading) must not claim the GPUs/TPUs that JAX uses;
- Orbax and TFDS write many INFO lines per checkpoint/read; keep the log readable.
"""

from __future__ import annotations

import logging as std_logging

from absl import logging

_CHATTY = ("/orbax/", "/tensorflow_datasets/")


class _QuietLibraries(std_logging.Filter):
  def filter(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    return not any(part in record.pathname for part in _CHATTY)


def quiet_library_logs() -> None:
  """Drop INFO/DEBUG records from chatty libraries; warnings and errors still show."""
  logging.get_absl_handler().addFilter(_QuietLibraries())


def hide_tensorflow_from_accelerators() -> None:
  """tf.data only reads files here: keep TensorFlow off the GPUs/TPUs that JAX uses."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")
  tf.config.set_visible_devices([], "TPU")


def prepare_process() -> None:
  """Call first in every CLI's main()."""
  hide_tensorflow_from_accelerators()
  quiet_library_logs()
