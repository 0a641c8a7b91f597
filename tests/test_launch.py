"""The launch scripts: what --dry-run prints is what they run, and nothing runs in a dry run.

Every external program the scripts call (gcloud, sbatch, srun, the Python interpreter) is a fake
on PATH that records its arguments, so the tests see exactly what a real launch would execute
and prove that a dry run executed nothing. The remote command a TPU worker would run is run
here too, against a fake worker home, to check the quoting of overrides end to end.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
TPU = REPO / "launch" / "tpu_vm.sh"
GPU = REPO / "launch" / "gpu_host.sh"
SLURM = REPO / "launch" / "slurm.sbatch"

TPU_ENV = {"TPU_NAME": "pegasus-v4", "ZONE": "us-central2-b",
           "WORKDIR": "gs://my-bucket/runs/jointgan"}
# Overrides a shell would mangle if they were not quoted: parentheses and quotes, a space, and
# a command substitution that must stay text (it would create PWNED if ever evaluated).
OVERRIDES = ["--config.data.classes=('horse','bird')", "--config.seed=7",
             "--config.data.path=my images/$(touch PWNED)"]

# A program that appends its name and arguments (NUL-separated, one record per call) to $FAKE_LOG.
FAKE = """#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; printf '\\0%s' "$@"; printf '\\036'; } >> "$FAKE_LOG"
echo "fake $(basename "$0") ran"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> dict:
  """A PATH with fake gcloud/sbatch/srun/python first, a HOME and TMPDIR, and the call log."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name in ("gcloud", "sbatch", "srun", "python"):
    fake = bin_dir / name
    fake.write_text(FAKE)
    fake.chmod(0o755)
  home = tmp_path / "home"
  home.mkdir()
  env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp_path),
         "FAKE_LOG": str(tmp_path / "calls.log"), "LANG": "C.UTF-8"}
  return {"env": env, "tmp": tmp_path, "log": tmp_path / "calls.log", "bin": bin_dir}


def run_script(sandbox: dict, script: pathlib.Path, *args: str,
               **env: str) -> subprocess.CompletedProcess:
  return subprocess.run(["bash", str(script), *args], env={**sandbox["env"], **env},
                        cwd=sandbox["tmp"], capture_output=True, text=True, timeout=30)


def calls(sandbox: dict) -> list[list[str]]:
  """Every recorded call of a fake program, as its argv (program name first)."""
  if not sandbox["log"].exists():
    return []
  records = sandbox["log"].read_text().split("\x1e")[:-1]
  return [record.split("\0") for record in records]


def planned(stdout: str) -> list[list[str]]:
  """The commands a script ran (or would run): its '+ ' lines, split as a shell would."""
  commands = []
  for line in stdout.splitlines():
    if line.startswith("+ "):
      words = shlex.split(line[2:])
      if "2>&1" in words:  # gpu_host.sh: CMD 2>&1 | tee -a LOG
        words = words[:words.index("2>&1")]
      commands.append(words)
  return commands


def later(stdout: str) -> list[list[str]]:
  """The commands printed for the user to run later (indented lines), split as a shell would."""
  return [shlex.split(line) for line in stdout.splitlines() if line.startswith("    ")]


def remote_command(argv: list[str]) -> str:
  """The --command=... of a `gcloud compute tpus tpu-vm ssh` call."""
  [command] = [a[len("--command="):] for a in argv if a.startswith("--command=")]
  return command


def train_argv(remote: str) -> list[str]:
  """The python command inside a TPU start command: from .venv/bin/python up to the redirection."""
  words = shlex.split(remote)
  start = words.index(".venv/bin/python")
  return words[start:words.index(">>")]


def assert_ok(result: subprocess.CompletedProcess) -> None:
  assert result.returncode == 0, result.stderr


# -- launch/tpu_vm.sh ----------------------------------------------------------------------------
def test_tpu_dry_run_prints_every_stage_and_runs_nothing(sandbox):
  result = run_script(sandbox, TPU, "--dry-run", "configs/jointgan.py", *OVERRIDES, **TPU_ENV)
  assert_ok(result)
  assert calls(sandbox) == [], "a dry run must not call gcloud"
  assert not list(sandbox["tmp"].glob("*.tar.gz")), "a dry run must not build the tarball"
  out = result.stdout
  for stage in ("create", "setup", "start", "logs", "tensorboard", "resume", "stop", "delete"):
    assert f"# {stage}" in out, f"stage {stage} missing from:\n{out}"

  create, archive, scp, setup, start = planned(out)
  assert create[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "create"]
  assert {"pegasus-v4", "--zone=us-central2-b", "--accelerator-type=v4-8",
          "--version=tpu-ubuntu2204-base"} <= set(create)
  assert archive[:2] == ["git", "-C"] and "archive" in archive
  assert scp[4] == "scp" and "--worker=all" in scp
  assert setup[4] == "ssh" and "--worker=all" in setup
  assert "pip install" in remote_command(setup) and "jax[tpu]" in remote_command(setup)
  assert start[4] == "ssh" and "--worker=all" in start
  remote = remote_command(start)
  assert "nohup" in remote and ">> train.log" in remote
  assert train_argv(remote) == [
      ".venv/bin/python", "-m", "pegasus_jax.main", "--config=configs/jointgan.py",
      "--workdir=gs://my-bucket/runs/jointgan", "--distributed", *OVERRIDES]

  logs, tensorboard, resume, stop, delete = later(out)
  assert "--worker=0" in logs and "tail" in remote_command(logs)
  assert tensorboard == ["tensorboard", "--logdir", "gs://my-bucket/runs/jointgan"]
  assert resume == start, "resume must be the very same command as start"
  assert "--worker=all" in stop and "kill -TERM" in remote_command(stop)
  assert delete[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "pegasus-v4"]


def test_tpu_without_dry_run_calls_gcloud_with_the_printed_commands(sandbox):
  dry = run_script(sandbox, TPU, "--dry-run", "configs/jointgan.py", *OVERRIDES, **TPU_ENV)
  result = run_script(sandbox, TPU, "configs/jointgan.py", *OVERRIDES, **TPU_ENV)
  assert_ok(result)
  assert planned(result.stdout) == planned(dry.stdout)
  gcloud_planned = [argv for argv in planned(dry.stdout) if argv[0] == "gcloud"]
  assert calls(sandbox) == gcloud_planned
  assert (sandbox["tmp"] / "pegasus_jax-pegasus-v4.tar.gz").stat().st_size > 0  # git archive ran
  assert not (sandbox["tmp"] / "PWNED").exists()


@pytest.mark.parametrize("stage", ["start", "resume"])
def test_tpu_start_and_resume_run_the_same_command(sandbox, stage):
  result = run_script(sandbox, TPU, stage, "configs/jointgan.py", *OVERRIDES, **TPU_ENV)
  assert_ok(result)
  [call] = calls(sandbox)
  assert call[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"] and "--worker=all" in call
  dry_up = run_script(sandbox, TPU, "--dry-run", "configs/jointgan.py", *OVERRIDES, **TPU_ENV)
  assert call == planned(dry_up.stdout)[-1]


def test_tpu_remote_start_command_passes_overrides_verbatim(sandbox):
  """Run the start command's remote side in a fake worker home: python gets the exact words."""
  result = run_script(sandbox, TPU, "--dry-run", "start", "configs/jointgan.py", *OVERRIDES,
                      **TPU_ENV)
  [start] = planned(result.stdout)
  worker = sandbox["tmp"] / "worker"
  venv_bin = worker / "pegasus_jax" / ".venv" / "bin"
  venv_bin.mkdir(parents=True)
  (venv_bin / "python").write_text(FAKE)
  (venv_bin / "python").chmod(0o755)
  subprocess.run(["bash", "-c", remote_command(start)], cwd=worker, env=sandbox["env"],
                 check=True, timeout=30, capture_output=True)
  deadline = time.monotonic() + 10
  while not calls(sandbox) and time.monotonic() < deadline:  # nohup'd in the background
    time.sleep(0.05)
  [call] = calls(sandbox)
  assert call == ["python", "-m", "pegasus_jax.main", "--config=configs/jointgan.py",
                  "--workdir=gs://my-bucket/runs/jointgan", "--distributed", *OVERRIDES]
  assert (worker / "pegasus_jax" / "train.pid").read_text().strip().isdigit()
  deadline = time.monotonic() + 10
  log = worker / "pegasus_jax" / "train.log"
  while "fake python ran" not in (log.read_text() if log.exists() else ""):
    assert time.monotonic() < deadline
    time.sleep(0.05)
  assert not list(worker.rglob("PWNED")) and not (sandbox["tmp"] / "PWNED").exists()


def test_tpu_options_from_the_environment(sandbox):
  result = run_script(sandbox, TPU, "--dry-run", "configs/jointgan.py", **TPU_ENV,
                      ACCELERATOR_TYPE="v4-32", RUNTIME_VERSION="tpu-vm-v4-base", SPOT="1",
                      PROJECT="my-project", DATA_DIR="gs://my-bucket/tfds",
                      REPO_URL="https://example.com/pegasus_jax.git")
  assert_ok(result)
  create, setup, start = planned(result.stdout)  # REPO_URL: clone, no archive/scp
  assert {"--accelerator-type=v4-32", "--version=tpu-vm-v4-base", "--spot",
          "--project=my-project"} <= set(create)
  assert "git clone -q https://example.com/pegasus_jax.git pegasus_jax" in remote_command(setup)
  assert "--config.data.data_dir=gs://my-bucket/tfds" in train_argv(remote_command(start))


@pytest.mark.parametrize("missing", ["TPU_NAME", "ZONE", "WORKDIR"])
def test_tpu_missing_variable_is_one_error_line_and_exit_2(sandbox, missing):
  env = {k: v for k, v in TPU_ENV.items() if k != missing}
  result = run_script(sandbox, TPU, "--dry-run", "configs/jointgan.py", **env)
  assert result.returncode == 2
  assert result.stdout == ""
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:") and missing in lines[0]
  assert calls(sandbox) == []


@pytest.mark.parametrize("args", [["--dry-run"], ["--dry-run", "start"], ["--bogus"]])
def test_tpu_usage_errors_exit_2(sandbox, args):
  result = run_script(sandbox, TPU, *args, **TPU_ENV)
  assert result.returncode == 2 and "usage:" in result.stderr
  assert calls(sandbox) == []


@pytest.mark.parametrize("stage,worker,words", [
    ("logs", "--worker=0", "tail -n 100 -F pegasus_jax/train.log"),
    ("stop", "--worker=all", "kill -TERM"),
])
def test_tpu_logs_and_stop_stages(sandbox, stage, worker, words):
  result = run_script(sandbox, TPU, stage, TPU_NAME="pegasus-v4", ZONE="us-central2-b")
  assert_ok(result)
  [call] = calls(sandbox)
  assert worker in call and words in remote_command(call)


def test_tpu_delete_stage(sandbox):
  result = run_script(sandbox, TPU, "delete", TPU_NAME="pegasus-v4", ZONE="us-central2-b")
  assert_ok(result)
  assert calls(sandbox) == [["gcloud", "compute", "tpus", "tpu-vm", "delete", "pegasus-v4",
                             "--zone=us-central2-b", "--quiet"]]


# -- launch/gpu_host.sh --------------------------------------------------------------------------
def test_gpu_dry_run_single_host(sandbox):
  workdir = sandbox["tmp"] / "runs" / "j"
  result = run_script(sandbox, GPU, "--dry-run", "configs/jointgan.py", str(workdir), *OVERRIDES)
  assert_ok(result)
  assert calls(sandbox) == [] and not workdir.exists(), "a dry run must run nothing"
  mkdir, train = planned(result.stdout)
  assert mkdir == ["mkdir", "-p", str(workdir)]
  assert train == ["env", "XLA_PYTHON_CLIENT_MEM_FRACTION=0.9", "python", "-m",
                   "pegasus_jax.main", "--config=configs/jointgan.py", f"--workdir={workdir}",
                   *OVERRIDES]
  assert f"| tee -a {workdir}/train.log" in result.stdout
  assert ["launch/gpu_host.sh", "configs/jointgan.py", str(workdir), *OVERRIDES] in later(
      result.stdout), "the resume command is the same command"


def test_gpu_runs_python_and_tees_the_log(sandbox):
  workdir = sandbox["tmp"] / "runs" / "j"
  result = run_script(sandbox, GPU, "configs/jointgan.py", str(workdir), "--config.seed=1")
  assert_ok(result)
  assert calls(sandbox) == [["python", "-m", "pegasus_jax.main", "--config=configs/jointgan.py",
                             f"--workdir={workdir}", "--config.seed=1"]]
  assert "fake python ran" in (workdir / "train.log").read_text()
  failed = run_script(sandbox, GPU, "configs/jointgan.py", str(workdir), FAKE_EXIT="3")
  assert failed.returncode == 3, "the job's exit status must survive the tee"


def test_gpu_multi_host_flags_from_the_environment(sandbox):
  env = {"COORDINATOR_ADDRESS": "host0:1234", "NUM_PROCESSES": "2", "PROCESS_ID": "1"}
  result = run_script(sandbox, GPU, "--dry-run", "configs/jointgan.py", "/shared/runs/j", **env)
  assert_ok(result)
  _, train = planned(result.stdout)
  assert train[-4:] == ["--distributed", "--coordinator_address=host0:1234",
                        "--num_processes=2", "--process_id=1"]
  assert "tee -a /shared/runs/j/train.process1.log" in result.stdout
  assert ["COORDINATOR_ADDRESS=host0:1234", "NUM_PROCESSES=2", "PROCESS_ID=1",
          "launch/gpu_host.sh", "configs/jointgan.py", "/shared/runs/j"] in later(result.stdout)
  auto = run_script(sandbox, GPU, "--dry-run", "configs/jointgan.py", "gs://b/r", DISTRIBUTED="1")
  assert planned(auto.stdout)[-1][-1] == "--distributed"
  assert "tee -a train.log" in auto.stdout  # no local log file inside a gs:// workdir


def test_gpu_partial_multi_host_variables_exit_2(sandbox):
  result = run_script(sandbox, GPU, "--dry-run", "configs/jointgan.py", "runs/j", NUM_PROCESSES="2")
  assert result.returncode == 2
  [line] = result.stderr.strip().splitlines()
  assert "COORDINATOR_ADDRESS" in line and "PROCESS_ID" in line
  assert run_script(sandbox, GPU, "--dry-run", "configs/jointgan.py").returncode == 2
  assert calls(sandbox) == []


# -- launch/slurm.sbatch -------------------------------------------------------------------------
def test_slurm_dry_run_prints_submit_and_the_job_command(sandbox):
  result = run_script(sandbox, SLURM, "--dry-run", "configs/jointgan.py", "/shared/runs/j",
                      *OVERRIDES)
  assert_ok(result)
  assert calls(sandbox) == []
  [submit] = planned(result.stdout)
  assert submit == ["sbatch", f"--chdir={REPO}", str(SLURM), "configs/jointgan.py",
                    "/shared/runs/j", *OVERRIDES]
  job = later(result.stdout)
  assert ["srun", "--kill-on-bad-exit=1", "python", "-m", "pegasus_jax.main",
          "--config=configs/jointgan.py", "--workdir=/shared/runs/j", "--distributed",
          *OVERRIDES] == job[0]
  assert submit in job[1:], "resume is the same submit command"


def test_slurm_submits_outside_a_job_and_sruns_inside_one(sandbox):
  outside = run_script(sandbox, SLURM, "configs/jointgan.py", "/shared/runs/j", "--config.seed=3")
  assert_ok(outside)
  inside = run_script(sandbox, SLURM, "configs/jointgan.py", "/shared/runs/j", "--config.seed=3",
                      SLURM_JOB_ID="42")
  assert_ok(inside)
  submit, srun = calls(sandbox)
  assert submit == ["sbatch", f"--chdir={REPO}", str(SLURM), "configs/jointgan.py",
                    "/shared/runs/j", "--config.seed=3"]
  assert srun == ["srun", "--kill-on-bad-exit=1", "python", "-m", "pegasus_jax.main",
                  "--config=configs/jointgan.py", "--workdir=/shared/runs/j", "--distributed",
                  "--config.seed=3"]


def test_slurm_directives_one_task_per_gpu_and_a_clean_stop():
  directives = dict(line.split()[1].lstrip("-").split("=", 1)
                    for line in SLURM.read_text().splitlines()
                    if line.startswith("#SBATCH") and "=" in line)
  assert directives["ntasks-per-node"] == directives["gpus-per-node"]
  assert directives["signal"].startswith("TERM@")
  assert "#SBATCH --requeue" in SLURM.read_text()


def test_scripts_are_executable_and_strict():
  for script in (TPU, GPU, SLURM):
    assert os.access(script, os.X_OK), script
    assert "set -euo pipefail" in script.read_text()
