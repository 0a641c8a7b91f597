"""Helpers for tests/test_faults.py: tiny configs and data, and a training subprocess to abuse.

Run as a script, this is `python -m pegasus_jax.main` with the TFDS read replaced by small
random arrays (so a subprocess needs no data set) and one `STEP <n>` line printed (flushed)
after each step is dispatched, so a test can kill it at a chosen step. Test-only knobs, read
from the environment: PEGASUS_TEST_STEP_DELAY (seconds to sleep after each step, so a signal
lands mid-run), PEGASUS_TEST_NAN_AT_STEP (that step's batch is NaN), PEGASUS_TEST_IGNORE_SIGXFSZ
(file-size limits then fail writes with EFBIG instead of killing the process, as a full disk
does; the parent may lower the limit with `resource.prlimit`), PEGASUS_TEST_FSIZE_LIMIT (that
limit in bytes from the start, after the heavy imports), PEGASUS_TEST_DATA (`random`, the
default: random class images; `tfds_mock:DIR`: the real TFDS pipeline on TFDS's mock examples,
with MNIST's metadata written under DIR, for families that read MNIST; `real`: no stand-in, for
synthetic data sources):

  python tests/fault_helpers.py --config=configs/jointgan.py:cpu --workdir=DIR \\
      $(tiny overrides, see TINY_FLAGS)
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import Any, Sequence

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

# The CPU JointGAN config shrunk to a compile of a few seconds (8x8 images, widths 4).
TINY = {
    "batch_size": 4, "total_steps": 12, "log_every": 4, "sample_every": 1000,
    "checkpoint_every": 3, "keep_checkpoints": 3, "num_sample_images": 4, "prefetch": 2,
    "data.image_size": 8, "model.g_width": 4, "model.d_width": 4, "model.z_dim": 8,
}


def tiny_flags(**overrides: Any) -> list[str]:
  """`--config.x=v` flags for TINY updated with `overrides` (use `__` for dots)."""
  values = dict(TINY)
  values.update({k.replace("__", "."): v for k, v in overrides.items()})
  return [f"--config.{k}={v}" for k, v in values.items()]


def tiny_config(**overrides: Any):
  """The same tiny config as a ConfigDict, for in-process runs."""
  sys.path.insert(0, str(REPO / "configs"))
  import jointgan  # pylint: disable=g-import-not-at-top

  config = jointgan.get_config("cpu")
  values = dict(TINY)
  values.update({k.replace("__", "."): v for k, v in overrides.items()})
  for dotted, value in values.items():
    *parents, leaf = dotted.split(".")
    target = config
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


def random_class_images(num_classes: int, size: int, per_class: int = 16,
                        seed: int = 0) -> list[np.ndarray]:
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (per_class, size, size, 3), dtype=np.uint8)
          for _ in range(num_classes)]


def fake_load_dataset(config, process_index: int = 0, process_count: int = 1):
  """Stands in for `pegasus_jax.data.load_dataset`: the real samplers, random in-memory images."""
  from pegasus_jax import data  # pylint: disable=g-import-not-at-top

  labels = tuple(str(c) for c in config.data.classes)
  images = data.ClassImages(labels, random_class_images(len(labels), config.data.image_size))
  dataset = data.ImageDataset(images, config.data.sampler, config.data.random_flip)
  nan_step = int(os.environ.get("PEGASUS_TEST_NAN_AT_STEP", "-1"))
  if nan_step >= 0:
    make_sampler = dataset.sampler

    def poisoned_sampler(*args, **kwargs):
      sampler = make_sampler(*args, **kwargs)
      clean = sampler.batch

      def batch(step: int) -> dict[str, np.ndarray]:
        out = clean(step)
        # The loop trains step s on batch(s - 1) (the prefetcher starts at the resume step).
        return {k: v * np.nan for k, v in out.items()} if step + 1 == nan_step else out
      sampler.batch = batch
      return sampler
    dataset.sampler = poisoned_sampler
  return dataset


def patch_data() -> None:
  from pegasus_jax import data  # pylint: disable=g-import-not-at-top
  data.load_dataset = fake_load_dataset


def write_mock_metadata(data_dir: str, name: str = "mnist") -> None:
  """Split sizes for TFDS's mock (which yields its own few examples for any slice): the builder
  then counts as prepared under `data_dir`, and a config's slices of it exist."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict(
      [tfds.core.SplitInfo(name=split, shard_lengths=[60_000], num_bytes=0)
       for split in ("train", "test")]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


def family_command(config: str, workdir: str, flags: Sequence[str]) -> list[str]:
  """This script on any shipped config (`configs/NAME.py[:variant]`) with explicit flags."""
  return [sys.executable, str(pathlib.Path(__file__).resolve()),
          "--config=" + str(REPO / config), f"--workdir={workdir}", *flags]


def subprocess_env(**extra: str) -> dict[str, str]:
  """The child's environment; JAX_COMPILATION_CACHE_DIR (set by the tests) makes restarts cheap."""
  env = dict(os.environ)
  env.update(extra)
  if env.get("JAX_COMPILATION_CACHE_DIR"):
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
  env.update(TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
  env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
  return env


def command(workdir: str, *extra: str, **overrides: Any) -> list[str]:
  return [sys.executable, str(pathlib.Path(__file__).resolve()),
          "--config=" + str(REPO / "configs" / "jointgan.py") + ":cpu",
          f"--workdir={workdir}", *tiny_flags(**overrides), *extra]


def start(workdir: str, *extra: str, env: dict[str, str] | None = None,
          argv: Sequence[str] | None = None, **overrides: Any) -> subprocess.Popen:
  """A training subprocess (stdout+stderr merged, line by line); `argv` replaces the tiny
  JointGAN command."""
  return subprocess.Popen(list(argv) if argv else command(workdir, *extra, **overrides),
                          cwd=str(REPO),
                          env=subprocess_env(**(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1)


def run(workdir: str, *extra: str, env: dict[str, str] | None = None, timeout: float = 120,
        argv: Sequence[str] | None = None, **overrides: Any) -> subprocess.CompletedProcess:
  """Train to the end in a subprocess; stdout and stderr merged into `.stdout`."""
  return subprocess.run(list(argv) if argv else command(workdir, *extra, **overrides),
                        cwd=str(REPO),
                        env=subprocess_env(**(env or {})), stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, timeout=timeout)


def wait_for_line(proc: subprocess.Popen, predicate, timeout: float = 120) -> tuple[str, str]:
  """Read the child's output until `predicate(line)`; return (that line, all output so far)."""
  seen = []
  deadline = time.time() + timeout
  while time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
      if proc.poll() is not None:
        break
      continue
    seen.append(line)
    if predicate(line):
      return line, "".join(seen)
  raise AssertionError(f"the child never printed the expected line; output:\n{''.join(seen)}")


def step_of(line: str) -> int | None:
  match = re.match(r"STEP (\d+)$", line.strip())
  return int(match.group(1)) if match else None


def kill_at_step(workdir: str, step: int, sig: int = signal.SIGKILL,
                 env: dict[str, str] | None = None, argv: Sequence[str] | None = None,
                 **overrides: Any) -> tuple[int, str]:
  """Start training, send `sig` once step `step` was dispatched; (return code, output)."""
  proc = start(workdir, env=env, argv=argv, **overrides)
  try:
    _, seen = wait_for_line(proc, lambda l: (step_of(l) or -1) >= step or "Finished" in l)
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=120)
    return proc.returncode, seen + rest
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def restore_state(workdir: str, step: int | None = None) -> tuple[Any, int]:
  """A checkpoint's state (host NumPy leaves) and step (default: the newest that restores),
  read the way `pegasus_jax.sample` reads it: without repairing anything."""
  import jax  # pylint: disable=g-import-not-at-top
  from pegasus_jax.run import restore  # pylint: disable=g-import-not-at-top

  run = restore.load_run(workdir, step)
  return jax.tree_util.tree_map(np.asarray, run.state), run.step


def trees_equal(a: Any, b: Any) -> bool:
  import jax  # pylint: disable=g-import-not-at-top
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  return (jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
          and all(np.array_equal(x, y) for x, y in zip(la, lb)))


def _announce_steps() -> None:
  """Print `STEP n` after each dispatched train step (the child's progress, for the parent)."""
  from pegasus_jax import train  # pylint: disable=g-import-not-at-top
  compile_train_step = train.compile_train_step
  delay = float(os.environ.get("PEGASUS_TEST_STEP_DELAY", "0"))

  def compile_and_announce(family, mesh):
    step_fn = compile_train_step(family, mesh)
    counter = {"n": None}

    def announced(state, batch):
      if counter["n"] is None:
        counter["n"] = int(state.step)  # once, at the first step (the state is ready then)
      out = step_fn(state, batch)
      counter["n"] += 1
      # One write syscall: stderr (logs) shares the pipe, and print() may split text and newline.
      os.write(1, f"STEP {counter['n']}\n".encode())
      time.sleep(delay)
      return out
    return announced

  train.compile_train_step = compile_and_announce


def main(argv: Sequence[str] | None = None) -> None:
  from pegasus_jax.cli import setup  # pylint: disable=g-import-not-at-top
  from pegasus_jax.cli import train as cli  # pylint: disable=g-import-not-at-top

  if os.environ.get("PEGASUS_TEST_IGNORE_SIGXFSZ") or os.environ.get("PEGASUS_TEST_FSIZE_LIMIT"):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  if os.environ.get("PEGASUS_TEST_FSIZE_LIMIT"):
    import resource  # pylint: disable=g-import-not-at-top
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    from pegasus_jax import train  # pylint: disable=g-import-not-at-top,unused-import
    limit = int(os.environ["PEGASUS_TEST_FSIZE_LIMIT"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  source = os.environ.get("PEGASUS_TEST_DATA", "random")
  if source == "random":
    patch_data()
  _announce_steps()
  data = contextlib.nullcontext()
  if source.startswith("tfds_mock:"):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    data_dir = source.split(":", 1)[1]
    write_mock_metadata(data_dir)
    data = tfds.testing.mock_data(num_examples=64, data_dir=data_dir)
  with data:
    setup.run(cli.main, argv=list(argv) if argv is not None else None)


if __name__ == "__main__":
  main()
