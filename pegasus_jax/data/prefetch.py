"""Put host batches on the devices ahead of time, as global `jax.Array`s sharded per field."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np


class DevicePrefetcher(Iterator[Any]):
  """Yields `make_batch(step)` for step = start, start+1, ..., end-1, transferred `depth` ahead.

  A background thread builds each host batch and turns every field into a global array with
  `jax.make_array_from_process_local_data` and that field's sharding (each process supplies its
  shard of the field's batch axis),
  so the training loop never waits on NumPy work or host-to-device copies. Errors in the thread
  are re-raised in the caller. Call `close()` (or use it as a context manager) when done.
  """

  def __init__(self, make_batch: Callable[[int], dict[str, np.ndarray]],
               shardings: Mapping[str, jax.sharding.Sharding], start: int, end: int,
               depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self._end = end
    self._next_step = start

    def produce():
      try:
        for step in range(start, end):
          host = make_batch(step)
          device = {k: jax.make_array_from_process_local_data(shardings[k], v)
                    for k, v in host.items()}
          while not self._stop.is_set():
            try:
              self._queue.put((step, device, None), timeout=0.1)
              break
            except queue.Full:
              continue
          if self._stop.is_set():
            return
      except BaseException as e:  # surfaced to the consumer on its next `next()`
        self._queue.put((None, None, e))

    self._thread = threading.Thread(target=produce, name="device-prefetch", daemon=True)
    self._thread.start()

  def __next__(self) -> dict[str, jax.Array]:
    if self._next_step >= self._end:
      raise StopIteration
    step, batch, error = self._queue.get()
    if error is not None:
      raise error
    assert step == self._next_step, (step, self._next_step)
    self._next_step += 1
    return batch

  def close(self) -> None:
    self._stop.set()
    while True:
      try:
        self._queue.get_nowait()
      except queue.Empty:
        break
    self._thread.join(timeout=5)

  def __enter__(self) -> "DevicePrefetcher":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
