#!/usr/bin/env bash
# Train on a GPU host (every local GPU, data-parallel over one mesh), or on one host of several.
#
#   launch/gpu_host.sh [--dry-run] CONFIG WORKDIR [--config.field=value ...]
#
# --dry-run   print the commands (lines starting with '+ ') and run none.
# Install once with CUDA wheels:  pip install -e . 'jax[cuda12]'
# One process drives every local GPU (jit over a Mesh of all devices); TensorFlow is hidden from
# the GPUs at start-up so tf.data does not take their memory. Re-running the same command
# resumes from the newest checkpoint in WORKDIR.
#
# Several hosts: run this on each host with the same shared WORKDIR and
#   COORDINATOR_ADDRESS=HOST0:PORT NUM_PROCESSES=N PROCESS_ID=I    (I = 0 .. N-1; all three)
# which adds --distributed --coordinator_address=... --num_processes=... --process_id=...; or
# DISTRIBUTED=1 alone where JAX detects the cluster itself (Open MPI; for SLURM see
# launch/slurm.sbatch). The same variables run two processes on one machine, as
# tests/test_multiprocess.py does on CPU.
#
# Environment (all optional): PYTHON (default python), XLA_PYTHON_CLIENT_MEM_FRACTION (default
# 0.9), LOG_FILE (default WORKDIR/train.log, WORKDIR/train.process<I>.log with PROCESS_ID, or
# ./train.log when WORKDIR is gs://). Exit status 2: a usage error.
set -euo pipefail

SCRIPT_NAME=launch/gpu_host.sh
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "$REPO_ROOT/launch/lib.sh"
USAGE="usage: [COORDINATOR_ADDRESS=HOST0:PORT NUM_PROCESSES=N PROCESS_ID=I] $SCRIPT_NAME [--dry-run] CONFIG WORKDIR [--config.field=value ...]"

parse_config_workdir_args "$@"

TRAIN=(env XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
       "${PYTHON:-python}" -m pegasus_jax.main --config="$CONFIG" --workdir="$WORKDIR")
if [ -n "${COORDINATOR_ADDRESS:-}${NUM_PROCESSES:-}${PROCESS_ID:-}" ]; then
  require_env COORDINATOR_ADDRESS NUM_PROCESSES PROCESS_ID
  TRAIN+=(--distributed --coordinator_address="$COORDINATOR_ADDRESS"
          --num_processes="$NUM_PROCESSES" --process_id="$PROCESS_ID")
elif [ "${DISTRIBUTED:-0}" = 1 ]; then
  TRAIN+=(--distributed)
fi
TRAIN+=("${OVERRIDES[@]}")

# The command a user reruns to resume: this script, with the same variables and arguments.
RESUME=()
for name in COORDINATOR_ADDRESS NUM_PROCESSES PROCESS_ID DISTRIBUTED LOG_FILE; do
  if [ -n "${!name:-}" ]; then
    RESUME+=("$name=${!name}")
  fi
done
RESUME+=("$SCRIPT_NAME" "$CONFIG" "$WORKDIR" "${OVERRIDES[@]}")

if [ -n "${LOG_FILE:-}" ]; then
  :
elif [[ $WORKDIR == gs://* ]]; then
  LOG_FILE=train.log
elif [ -n "${PROCESS_ID:-}" ]; then
  LOG_FILE="$WORKDIR/train.process$PROCESS_ID.log"
else
  LOG_FILE="$WORKDIR/train.log"
fi

stage "while it runs, or after it stops (not run now):"
stage "logs: follow the log"
later tail -n 100 -F "$LOG_FILE"
stage "tensorboard: watch the run"
later tensorboard --logdir "$WORKDIR"
stage "resume: after a stop (Ctrl-C or SIGTERM saves a checkpoint) or a crash, the same command"
later "${RESUME[@]}"
stage "start: train on this host's GPUs, appending to $LOG_FILE"
run mkdir -p "$(dirname "$LOG_FILE")"
printf '+ %s 2>&1 | tee -a %s\n' "$(shell_line "${TRAIN[@]}")" "$(shell_word "$LOG_FILE")"
if [ "$DRY_RUN" = 0 ]; then
  "${TRAIN[@]}" 2>&1 | tee -a "$LOG_FILE"
fi
