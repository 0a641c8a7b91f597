"""The errors a user can fix, as opposed to bugs.

Every command-line tool prints an error of this kind as one line naming the problem and the fix,
and exits with status 2; anything else is a bug and keeps its traceback. Exceptions raised deep
in the code mix `UserError` in beside their usual base (ValueError, OSError, ...), so callers
that catch the usual base keep working.
"""

from __future__ import annotations


class UserError(Exception):
  """A problem in the user's input or environment: a config field, data, a workdir, a run."""


class ConfigError(UserError, ValueError):
  """A config field has a bad value, is unknown, or is missing."""


class MissingCapabilityError(UserError, TypeError):
  """A tool needs a capability (generates, conditional, encodes, ...) that the run lacks."""


class RunNotFoundError(UserError, FileNotFoundError):
  """A workdir holds no (finished) checkpoint of a training run."""
