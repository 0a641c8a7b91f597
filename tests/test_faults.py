"""Never lose a run: kills, preemption, corrupt checkpoints, locks, unwritable disks, bad input.

Most tests run the real CLI (`pegasus_jax.main`, via tests/fault_helpers.py) in a subprocess
with a tiny model and random in-memory data, and abuse it from outside: SIGKILL, SIGTERM,
truncated files, file-size limits. A JAX compilation cache shared by the module's subprocesses
keeps each restart to a few seconds. The whole module takes ~2-3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # pylint: disable=g-import-not-at-top,wrong-import-position

from pegasus_jax.run import checkpoint, workdir_lock  # pylint: disable=wrong-import-position

TOTAL = 16  # steps of the reference run; checkpoints every 3 steps: 3, 6, 9, 12, 15, 16
RUN = dict(total_steps=TOTAL, checkpoint_every=3, keep_checkpoints=10)
SLOW = {"PEGASUS_TEST_STEP_DELAY": "0.05"}  # so a signal sent at step n lands near step n


@pytest.fixture(scope="module")
def cache_env(subprocess_jax_cache) -> dict[str, str]:
  return dict(subprocess_jax_cache)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_env) -> str:
  """The workdir of an uninterrupted run (all its checkpoints kept)."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  result = fh.run(workdir, env=cache_env, **RUN)
  assert result.returncode == 0, result.stdout
  return workdir


def _env(cache_env: dict[str, str], **extra: str) -> dict[str, str]:
  return dict(cache_env, **extra)


def _dead_pid() -> int:
  proc = subprocess.Popen(["true"])
  proc.wait()
  return proc.pid


def _write_lock(workdir: str, **fields) -> None:
  holder = {"host": socket.gethostname(), "pid": _dead_pid(), "start_time": "earlier",
            "argv": ["killed-job"], "token": "x"}
  holder.update(fields)
  with open(os.path.join(workdir, workdir_lock.LOCK_NAME), "w") as f:
    json.dump(holder, f)


def _biggest_file(directory: str) -> str:
  files = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]
  return max(files, key=os.path.getsize)


# -- kills and resume ---------------------------------------------------------------------------
def test_sigkill_at_random_steps_then_resume_is_bitwise_identical(tmp_path, reference,
                                                                   cache_env):
  seed = int(os.environ.get("FAULT_SEED", time.time_ns() % 10_000))
  rng = random.Random(seed)
  workdir = str(tmp_path / "run")
  for _ in range(3):
    ckpt = os.path.join(workdir, "checkpoints")
    done = max((int(n) for n in os.listdir(ckpt) if n.isdigit()), default=0) if (
        os.path.isdir(ckpt)) else 0
    if done >= TOTAL - 1:
      break
    kill_at = rng.randint(done + 1, TOTAL - 1)  # a step this run will really reach
    code, output = fh.kill_at_step(workdir, kill_at, env=_env(cache_env, **SLOW), **RUN)
    assert code == -signal.SIGKILL, f"seed {seed}: child ended before the kill:\n{output}"
    # SIGKILL leaves the lock behind: the next run must take it over.
    assert os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))
  result = fh.run(workdir, env=cache_env, **RUN)
  assert result.returncode == 0, f"seed {seed}:\n{result.stdout}"
  assert "Took over the stale lock" in result.stdout
  final, step = fh.restore_state(workdir)
  expected, expected_step = fh.restore_state(reference)
  assert step == expected_step == TOTAL
  assert fh.trees_equal(final, expected), f"seed {seed}: resumed run differs from reference"
  assert not checkpoint.unfinished_steps(os.path.join(workdir, "checkpoints"))


def test_corrupt_and_unfinished_checkpoints_fall_back_to_newest_good(tmp_path, reference,
                                                                     cache_env):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference, workdir)
  ckpt = os.path.join(workdir, "checkpoints")
  # 16: killed mid-write (Orbax's temporary name); 15: truncated array file; 12: deleted one.
  os.rename(os.path.join(ckpt, "16"), os.path.join(ckpt, "16.orbax-checkpoint-tmp-1234"))
  victim = _biggest_file(os.path.join(ckpt, "15", "state"))
  os.truncate(victim, os.path.getsize(victim) // 2)
  os.remove(_biggest_file(os.path.join(ckpt, "12", "state")))
  _write_lock(workdir)  # and a stale lock from the job that died

  result = fh.run(workdir, env=cache_env, **RUN)
  out = result.stdout
  assert result.returncode == 0, out
  assert "16.orbax-checkpoint-tmp-1234 is unfinished" in out
  assert "checkpoint " + ckpt + "/15 failed to restore" in out
  assert "checkpoint " + ckpt + "/12 failed to restore" in out
  assert f"Resumed from {ckpt} at step 9" in out
  assert "Took over the stale lock" in out
  # The corrupt steps were moved aside (not deleted), and saved again without complaint.
  moved = sorted(name.split("-")[0] for name in os.listdir(tmp_path / "run/corrupt_checkpoints"))
  assert moved == ["12", "15"]
  assert checkpoint.unfinished_steps(ckpt) == []
  assert sorted(int(s) for s in os.listdir(ckpt)) == [3, 6, 9, 12, 15, 16]
  final, step = fh.restore_state(workdir)
  expected, _ = fh.restore_state(reference)
  assert step == TOTAL and fh.trees_equal(final, expected)


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path, reference,
                                                                           cache_env):
  workdir = str(tmp_path / "run")
  result = fh.run(workdir, env=_env(cache_env, PEGASUS_TEST_NAN_AT_STEP="8"), **RUN)
  assert result.returncode == 2, result.stdout
  assert "NonFiniteLossError: non-finite values at step 8" in result.stdout
  state, step = fh.restore_state(workdir)
  expected, _ = fh.restore_state(reference, step=6)
  assert step == 6 and fh.trees_equal(state, expected)
  assert not os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))


# -- preemption and the lock --------------------------------------------------------------------
def test_sigterm_saves_exits_zero_and_second_job_is_refused(tmp_path, cache_env):
  from pegasus_jax import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "run")
  run = dict(total_steps=40, checkpoint_every=1000)
  proc = fh.start(workdir, env=_env(cache_env, **SLOW), **run)
  try:
    fh.wait_for_line(proc, lambda line: fh.step_of(line) == 3)
    # A second job on the same workdir is refused, naming the holder.
    with pytest.raises(workdir_lock.WorkdirLockedError) as refused:
      train.train_and_evaluate(fh.tiny_config(**run), workdir)
    message = str(refused.value)
    assert f"pid {proc.pid}" in message and socket.gethostname() in message
    assert "started 20" in message  # the ISO start time
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, rest
  preempted = [line for line in rest.splitlines() if line.startswith("Preempted (SIGTERM)")]
  assert len(preempted) == 1, rest
  saved = int(preempted[0].split("at step ")[1].split(":")[0])
  assert 3 <= saved < 40
  assert [int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))] == [saved]
  assert not os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))

  result = fh.run(workdir, env=cache_env, **run)  # the same command resumes and finishes
  assert result.returncode == 0, result.stdout
  assert f"at step {saved}" in result.stdout and "Finished at step 40" in result.stdout


def test_lock_refuses_live_holders_and_takes_over_dead_ones(tmp_path):
  workdir = str(tmp_path)
  # A live holder on this host (our parent process), and one on another host: refused.
  for holder in ({"pid": os.getppid()}, {"host": "elsewhere.example", "pid": 1}):
    _write_lock(workdir, **holder)
    with pytest.raises(workdir_lock.WorkdirLockedError, match=f"pid {holder['pid']}"):
      workdir_lock.WorkdirLock(workdir).acquire()
  # A dead holder on this host: stale, taken over; release removes only our own lock.
  _write_lock(workdir)
  with workdir_lock.WorkdirLock(workdir) as lock:
    with open(lock.path) as f:
      assert json.load(f)["pid"] == os.getpid()
    with pytest.raises(workdir_lock.WorkdirLockedError):
      workdir_lock.WorkdirLock(workdir).acquire()  # even from the same process
  assert not os.path.exists(lock.path)
  # A reused pid (alive, but started at another time) is not the holder either.
  _write_lock(workdir, pid=os.getppid(), pid_start_ticks=1)
  with workdir_lock.WorkdirLock(workdir):
    pass


# -- unwritable workdir, full disk --------------------------------------------------------------
def test_workdir_that_cannot_be_created_is_a_clear_error(tmp_path):
  from pegasus_jax import train  # pylint: disable=g-import-not-at-top
  (tmp_path / "a_file").write_text("")
  with pytest.raises(workdir_lock.WorkdirNotWritableError, match="cannot create"):
    train.train_and_evaluate(fh.tiny_config(), str(tmp_path / "a_file" / "run"))


def test_unwritable_workdir_fails_at_start(tmp_path, cache_env):
  workdir = str(tmp_path / "run")
  result = fh.run(workdir, env=_env(cache_env, PEGASUS_TEST_FSIZE_LIMIT="0"), **RUN)
  assert result.returncode == 2, result.stdout
  assert "WorkdirNotWritableError" in result.stdout
  assert f"cannot write to the workdir {workdir}" in result.stdout
  assert "Traceback" not in result.stdout
  assert os.listdir(os.path.join(workdir, "checkpoints")) == []


def test_disk_full_at_save_stops_the_job_and_keeps_the_last_checkpoint(tmp_path, cache_env):
  workdir = str(tmp_path / "run")
  run = dict(total_steps=40, checkpoint_every=10, log_every=1000, sample_every=1000)
  proc = fh.start(workdir, env=_env(cache_env, PEGASUS_TEST_IGNORE_SIGXFSZ="1", **SLOW), **run)
  try:
    first = os.path.join(workdir, "checkpoints", "10")  # appears when committed (renamed)
    fh.wait_for_line(proc, lambda line: (fh.step_of(line) or 0) > 10 and os.path.isdir(first))
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, 0))  # the disk is now "full"
    output, _ = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 2, output
  assert "CheckpointSaveError: the asynchronous save of checkpoint 20" in output
  assert "The last complete checkpoint is step 10" in output
  last_step = max(fh.step_of(line) or 0 for line in output.splitlines())
  assert last_step < 30, "trained on until the next save after the failed one"
  _, step = fh.restore_state(workdir)
  assert step == 10

  result = fh.run(workdir, env=cache_env, **run)  # room again: the same command resumes
  assert result.returncode == 0, result.stdout
  assert "at step 10" in result.stdout and "Finished at step 40" in result.stdout


# -- config overrides: run, or a clear ValueError -----------------------------------------------
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def _override_strategy():
  from hypothesis import strategies as st  # pylint: disable=g-import-not-at-top
  weird_floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
  fields = {
      "family": st.sampled_from(["jointgan", "dcgan", "stylegan", ""]),
      "seed": st.integers(-2, 2**62),  # >= 2**63: see test_huge_seed_is_a_clear_value_error
      "batch_size": st.integers(-1, 9),
      "n_disc": st.integers(-1, 3),
      "loss": st.sampled_from(["nonsaturating", "minimax", "hinge", "wasserstein", ""]),
      "num_sample_images": st.integers(-1, 5),
      "checkpoint_every": st.integers(-1, 3),
      "keep_checkpoints": st.integers(-1, 3),
      "data.classes": st.sampled_from([
          ("horse", "bird"), ("horse",), ("horse+bird",), (7, 2), ("7",), (), "horse",
          ("horse", "horse"), ("pegasus",), (10,), (-1,), ("",), (True,), ("horse", 7)]),
      "data.image_size": st.sampled_from([8, 16, 4, 0, -8, 12, 24]),
      "data.channels": st.integers(-1, 4),
      "model.z_dim": st.integers(-1, 9),
      "model.g_width": st.integers(-1, 6),
      "model.d_width": st.integers(-1, 6),
      "model.d_norm": st.sampled_from(["spectral", "batch", "none", "layer", ""]),
      "model.g_activation": st.sampled_from(["relu", "leaky_relu", "tanh", "gelu", ""]),
      "model.d_activation": st.sampled_from(["relu", "leaky_relu", "elu", ""]),
      "model.leaky_slope": weird_floats,
      "optimizer.g_lr": weird_floats,
      "optimizer.d_lr": weird_floats,
      "optimizer.b1": weird_floats,
      "optimizer.b2": weird_floats,
  }
  return st.dictionaries(st.sampled_from(sorted(fields)), st.none(), max_size=4).flatmap(
      lambda chosen: st.fixed_dictionaries({k: fields[k] for k in chosen}))


def _check_overrides(overrides: dict) -> None:
  """Validation, family construction and abstract init: ValueError or nothing, never more."""
  import jax  # pylint: disable=g-import-not-at-top
  from pegasus_jax import families
  from pegasus_jax.config.validation import validate_config  # pylint: disable=g-import-not-at-top
  from pegasus_jax.data.spec import DataInfo  # pylint: disable=g-import-not-at-top
  from pegasus_jax.data.tfds_source import resolve_class_ids  # pylint: disable=g-import-not-at-top
  from pegasus_jax.run import runtime  # pylint: disable=g-import-not-at-top

  config = fh.tiny_config()
  for dotted, value in overrides.items():
    *parents, leaf = dotted.split(".")
    target = config
    for parent in parents:
      target = target[parent]
    try:
      target[leaf] = value
    except (TypeError, ValueError):
      return  # ml_collections refuses the type (the CLI's flag parser does the same)
  try:
    validate_config(config)
    labels = tuple(label for label, _ in resolve_class_ids("cifar10", config.data.classes,
                                                           CIFAR10))
    size, channels = config.data.image_size, config.data.channels
    family = families.create(config, DataInfo(labels, {"image": (size, size, channels)}))
  except ValueError as e:
    assert "config." in str(e), f"{overrides}: the error does not name a field: {e}"
    return
  shapes = jax.eval_shape(family.init, runtime.stream_key(config.seed, "init"))
  images = jax.eval_shape(family.generate, shapes,
                          jax.ShapeDtypeStruct((2, config.model.z_dim), "float32"))
  assert images.shape == (2, size, size, channels), overrides


def test_config_overrides_run_or_raise_a_clear_value_error():
  from hypothesis import HealthCheck, given, settings  # pylint: disable=g-import-not-at-top

  @settings(max_examples=60, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow])
  @given(_override_strategy())
  def check(overrides):
    _check_overrides(overrides)

  check()


def test_huge_seed_is_a_clear_value_error():
  from pegasus_jax.config.validation import validate_config  # pylint: disable=g-import-not-at-top
  config = fh.tiny_config()
  config.seed = 2**63
  with pytest.raises(ValueError, match=r"config.seed=.* must be an integer in \[0, 2\*\*32\)"):
    validate_config(config)
  _check_overrides({"seed": 2**63})  # and the property check's path accepts that ValueError
