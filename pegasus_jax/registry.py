"""Registries by name: every family, evaluator type and scorer declares its own name, and a
registry is the dict of those names, built the one way below.

So a name is written once, where the thing is defined (a family's `name` is also what its
`default_config()` puts in `config.family`), and adding one is one entry in a tuple.
"""

from __future__ import annotations

from typing import Any, Iterable, TypeVar

T = TypeVar("T")


def by_name(entries: Iterable[T], attribute: str = "name") -> dict[str, T]:
  """{entry.<attribute>: entry} plus each entry's `aliases`; a name given twice is an error."""
  registry: dict[str, T] = {}
  for entry in entries:
    names: tuple[Any, ...] = (getattr(entry, attribute),) + tuple(getattr(entry, "aliases", ()))
    for name in names:
      if name in registry:
        raise ValueError(f"two entries are named {name!r}: {registry[name]!r} and {entry!r}")
      registry[name] = entry
  return registry
