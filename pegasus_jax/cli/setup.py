"""Process set-up and error reporting shared by the command-line tools (train, sample, ...).

Every tool wants, before it touches data or devices:
- TensorFlow (used only for tf.data/TFDS reading) must not claim the GPUs/TPUs that JAX uses;
- Orbax and TFDS write many INFO lines per checkpoint/read; keep the log readable.

And every tool reports a problem the user can fix (`errors.UserError`: a config field, missing
data, a workdir without checkpoints, a run lacking a capability, a bad flag) as one line on
stderr and exit status 2; tracebacks are for bugs, or with --debug.
"""

from __future__ import annotations

import logging as std_logging
import sys
from typing import Callable

from absl import app, flags, logging

from pegasus_jax.errors import UserError

_CHATTY = ("/orbax/", "/tensorflow_datasets/", "/fsspec/", "/gcsfs/")
USER_ERROR_EXIT = 2


class _QuietLibraries(std_logging.Filter):
  def filter(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    return not any(part in record.pathname for part in _CHATTY)


def quiet_library_logs() -> None:
  """Drop INFO/DEBUG records from chatty libraries; warnings and errors still show."""
  logging.get_absl_handler().addFilter(_QuietLibraries())


def hide_tensorflow_from_accelerators() -> None:
  """tf.data only reads files here: keep TensorFlow off the GPUs/TPUs that JAX uses.

  Where TensorFlow is not installed (it is needed only to read TFDS data) there is nothing to
  hide.
  """
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  tf.config.set_visible_devices([], "GPU")
  tf.config.set_visible_devices([], "TPU")


def prepare_process() -> None:
  """Call first in every CLI's main()."""
  hide_tensorflow_from_accelerators()
  quiet_library_logs()


def _user_error(message: str) -> None:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(USER_ERROR_EXIT)


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, but a bad flag or config override is a user error (exit 2, one line)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _user_error(f"{e} (see --helpfull)")
  except (AttributeError, KeyError) as e:  # ml_collections: --config.<unknown field>=...
    overrides = [a.split("=")[0] for a in argv if a.startswith("--config.")]
    _user_error(f"unknown config field {e} in the overrides {overrides}; the config file's "
                "get_config() lists the fields (validation names the valid ones)")
  except (UserError, ValueError, TypeError) as e:  # get_config() refusing a variant, bad types
    _user_error(str(e))
  raise AssertionError("unreachable")


def _list_in_short_help(module_name: str) -> None:
  """`--helpshort` lists the flags of the program's own file (sys.argv[0]); for the thin
  `python -m pegasus_jax.<command>` modules, those are the command's, defined in cli/."""
  for flag in flags.FLAGS.get_key_flags_for_module(module_name):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run(main: Callable[[list[str]], None], argv: list[str] | None = None) -> None:
  """`absl.app.run(main)` with user errors reported as one line and exit status 2."""
  if "debug" not in flags.FLAGS:
    flags.DEFINE_bool("debug", False, "Show the traceback of user errors too.")
  _list_in_short_help(main.__module__)

  def guarded(argv: list[str]) -> None:
    try:
      main(argv)
    except app.UsageError as e:
      _user_error(str(e))
    except UserError as e:
      if flags.FLAGS.debug:
        raise
      _user_error(f"{type(e).__name__}: {e}")

  app.run(guarded, argv=argv, flags_parser=_parse_flags)
