"""Devices and randomness shared by the loop, the tools and the evaluators.

- the mesh: one data-parallel axis over every device;
- shardings from a family's data spec: one `NamedSharding` per batch field, split along that
  field's batch axis (the loop never reshapes for devices);
- named RNG streams: every key the loop derives from `config.seed` comes from `stream_key`,
  each stream with its own `fold_in` index defined once, here.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from pegasus_jax.data.spec import FieldSpec

DATA_AXIS = "data"

# fold_in index of each stream under PRNGKey(seed). Never renumber: checkpoints, sample grids and
# evaluation latents of earlier runs were drawn from these.
RNG_STREAMS = {"init": 0, "grid": 1, "eval": 2}


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A 1-D data-parallel mesh over all (or the given) devices, with Auto axes."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (train state, metrics)."""
  return NamedSharding(mesh, P())


def field_sharding(mesh: Mesh, spec: FieldSpec) -> NamedSharding:
  """The field's batch axis split over the data axis; every other axis whole."""
  return NamedSharding(mesh, P(*([None] * spec.batch_axis), DATA_AXIS))


def batch_shardings(mesh: Mesh, spec: Mapping[str, FieldSpec]) -> dict[str, NamedSharding]:
  """One sharding per batch field of a family's data spec."""
  return {name: field_sharding(mesh, field) for name, field in spec.items()}


def stream_key(seed: int, stream: str) -> jax.Array:
  """The key of a named stream ('init', 'grid', 'eval') for `seed`."""
  if stream not in RNG_STREAMS:
    raise KeyError(f"unknown RNG stream {stream!r}; defined: {sorted(RNG_STREAMS)}")
  return jax.random.fold_in(jax.random.PRNGKey(seed), RNG_STREAMS[stream])


def local_copy(tree: Any) -> Any:
  """A replicated (possibly multi-host) pytree as single-device arrays for host-side work."""
  def local(x):
    if isinstance(x, jax.Array) and len(x.sharding.device_set) > 1:
      return x.addressable_data(0)
    return x
  return jax.tree_util.tree_map(local, tree)
