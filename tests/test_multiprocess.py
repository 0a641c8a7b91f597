"""Two JAX processes on this CPU (jax.distributed over localhost), like two hosts of a pod.

What single-process tests cannot show: each process reads its own data shard and feeds its part
of the global batch, Orbax writes one checkpoint from both, resume stays bitwise exact, and a
SIGTERM to both (a preemption) makes them agree on the step to save at (JAX's preemption sync
point via Orbax) and exit 0. Uses the fault-test child (random in-memory data, no data set).
"""

import re
import signal
import socket

import jax
import numpy as np

import fault_helpers as fh


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_pair(workdir, port, env=None, **overrides):
  return [fh.start(workdir, "--distributed", f"--coordinator_address=localhost:{port}",
                   "--num_processes=2", f"--process_id={i}", env=env, **overrides)
          for i in range(2)]


def _finish(procs, timeout=240):
  outputs = [p.communicate(timeout=timeout)[0] for p in procs]
  return [p.returncode for p in procs], outputs


def test_two_processes_resume_bitwise_like_an_uninterrupted_run(tmp_path, monkeypatch,
                                                                 subprocess_jax_cache):
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", subprocess_jax_cache["JAX_COMPILATION_CACHE_DIR"])
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  codes, outs = _finish(_start_pair(straight, _free_port(), total_steps=6))
  assert codes == [0, 0], outs
  assert "JAX process 1/2" in outs[1]
  codes, outs = _finish(_start_pair(resumed, _free_port(), total_steps=3))
  assert codes == [0, 0], outs
  codes, outs = _finish(_start_pair(resumed, _free_port(), total_steps=6))
  assert codes == [0, 0], outs
  assert all("Resumed from" in out and "at step 3" in out for out in outs), outs
  a, step_a = fh.restore_state(straight)
  b, step_b = fh.restore_state(resumed)
  assert step_a == step_b == 6
  assert fh.trees_equal(a, b)


def test_sigterm_to_both_processes_stops_them_at_the_same_step(tmp_path, monkeypatch,
                                                                subprocess_jax_cache):
  # The session's cache: the pair's program was compiled by the test above.
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", subprocess_jax_cache["JAX_COMPILATION_CACHE_DIR"])
  workdir = str(tmp_path / "run")
  procs = _start_pair(workdir, _free_port(), env={"PEGASUS_TEST_STEP_DELAY": "0.2"},
                      total_steps=400)
  try:
    for proc in procs:  # both have trained a few steps
      fh.wait_for_line(proc, lambda line: (fh.step_of(line) or -1) >= 4)
    for proc in procs:
      proc.send_signal(signal.SIGTERM)
    codes, outs = _finish(procs)
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  assert codes == [0, 0], outs
  steps = [int(re.search(r"Preempted \(.*\) at step (\d+)", out).group(1)) for out in outs]
  assert steps[0] == steps[1], steps
  state, step = fh.restore_state(workdir)
  assert step == steps[0] < 400
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(state))
