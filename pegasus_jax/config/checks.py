"""Field checks shared by the loop's validation and every family's own config checks.

A check takes a value and returns a complaint ('must be a positive integer') or None. Families
keep a table {dotted field name: check} in their own module; `run_checks` turns the first
complaint into a `ConfigError` that names the field.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from pegasus_jax.errors import ConfigError

Check = Callable[[Any], "str | None"]


def positive_int(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    return "must be a positive integer"
  return None


def non_negative_int(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    return "must be an integer >= 0"
  return None


def seed(value: Any) -> str | None:
  # PRNGKey and NumPy's generators take unsigned 32-bit seeds without surprises.
  if non_negative_int(value) or value >= 2**32:
    return "must be an integer in [0, 2**32)"
  return None


def positive_float(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and value > 0):
    return "must be a finite number > 0"
  return None


def non_negative_float(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and value >= 0):
    return "must be a finite number >= 0"
  return None


def unit_interval(value: Any) -> str | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
    return "must be a number in [0, 1)"
  return None


def one_of(*choices: Any) -> Check:
  def check(value: Any) -> str | None:
    return None if value in choices else f"must be one of {list(choices)}"
  return check


def boolean(value: Any) -> str | None:
  return None if isinstance(value, bool) else "must be True or False"


def optional_str(value: Any) -> str | None:
  return None if value is None or isinstance(value, str) else "must be a path string or None"


def non_empty_str(value: Any) -> str | None:
  return None if isinstance(value, str) and value else "must be a non-empty string"


def string(value: Any) -> str | None:
  return None if isinstance(value, str) else "must be a string ('' for none)"


def number_tuple(value: Any) -> str | None:
  if not isinstance(value, (tuple, list)) or not value or any(
      isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
      for v in value):
    return "must be a non-empty tuple of finite numbers"
  return None


def run_checks(flat: Mapping[str, Any], checks: Mapping[str, Check]) -> None:
  """ConfigError for the first field (present in `flat`) whose check complains."""
  for name, check in checks.items():
    if name not in flat:
      continue
    complaint = check(flat[name])
    if complaint:
      raise ConfigError(f"config.{name}={flat[name]!r} {complaint}")
