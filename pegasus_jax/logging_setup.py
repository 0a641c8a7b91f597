"""Keep the log readable: Orbax and TFDS write many INFO lines per checkpoint/read."""

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
