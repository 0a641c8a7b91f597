#!/usr/bin/env bash
# Train on a Cloud TPU VM or pod slice: create it, install the repo on every worker, start the
# job on every worker, follow the log, resume, stop, delete.
#
#   TPU_NAME=my-tpu ZONE=us-central2-b WORKDIR=gs://my-bucket/runs/jointgan \
#     launch/tpu_vm.sh [--dry-run] [STAGE] CONFIG [--config.field=value ...]
#
# --dry-run   print every command the stage would run (lines starting with '+ ') and run none.
# STAGE       one of
#   up        (the default) create + setup + start, then print how to follow, resume and delete
#   create    create the TPU VM or pod slice
#   setup     install the repo on every worker (a copy of this checkout's HEAD, or REPO_URL)
#   start     start training on every worker: python -m pegasus_jax.main --distributed ...
#   resume    the same command as start: the job resumes from the newest checkpoint in WORKDIR
#   logs      follow worker 0's log
#   stop      SIGTERM the job on every worker: it saves a checkpoint and exits
#   delete    delete the TPU VM or pod slice
# CONFIG and the overrides are needed by up, start and resume; other stages ignore them.
#
# Environment:
#   TPU_NAME, ZONE      required
#   WORKDIR             required by up/start/resume: shared by all workers, e.g. gs://BUCKET/runs/NAME
#   ACCELERATOR_TYPE    default v4-8 (one host, 4 chips); v4-32 etc. is a pod slice (several hosts)
#   RUNTIME_VERSION     default tpu-ubuntu2204-base
#   SPOT=1              create a Spot TPU (cheaper; preempted at any time; resume = same command)
#   PROJECT             gcloud project (default: gcloud's configured one)
#   DATA_DIR            passed as --config.data.data_dir (e.g. gs://BUCKET/tensorflow_datasets)
#   REPO_URL            setup clones it on the workers instead of copying this checkout
#   REPO_DIR            the repo's folder on the workers (default pegasus_jax, in the home)
#   LOG                 the log file inside REPO_DIR on each worker (default train.log)
#
# Every worker runs the same command (JAX is SPMD across hosts); --distributed makes each call
# jax.distributed.initialize(), which finds its peers from the TPU metadata. Exit status 2: a
# usage error (missing variable, unknown stage, no CONFIG).
set -euo pipefail

SCRIPT_NAME=launch/tpu_vm.sh
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "$REPO_ROOT/launch/lib.sh"

STAGES="up create setup start resume logs stop delete"
USAGE="usage: TPU_NAME=... ZONE=... WORKDIR=gs://... $SCRIPT_NAME [--dry-run] [${STAGES// /|}] CONFIG [--config.field=value ...]"

if take_dry_run "$@"; then shift; fi
STAGE=up
if [ -n "${1:-}" ] && [[ " $STAGES " == *" $1 "* ]]; then
  STAGE=$1
  shift
fi
refuse_options "$@"

require_env TPU_NAME ZONE
ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-v4-8}"
RUNTIME_VERSION="${RUNTIME_VERSION:-tpu-ubuntu2204-base}"
REPO_DIR="${REPO_DIR:-pegasus_jax}"
LOG="${LOG:-train.log}"

GCLOUD_TPU=(gcloud compute tpus tpu-vm)
WHERE=(--zone="$ZONE")
if [ -n "${PROJECT:-}" ]; then
  WHERE+=(--project="$PROJECT")
fi

# -- the commands each stage runs ----------------------------------------------------------------
do_create() {
  stage "create: the TPU VM or pod slice ($ACCELERATOR_TYPE, runtime $RUNTIME_VERSION)"
  local spot=()
  if [ "${SPOT:-0}" = 1 ]; then
    spot=(--spot)
  fi
  run "${GCLOUD_TPU[@]}" create "$TPU_NAME" "${WHERE[@]}" \
    --accelerator-type="$ACCELERATOR_TYPE" --version="$RUNTIME_VERSION" "${spot[@]}"
}

# The install every worker runs once the source is in REPO_DIR (as README's Quick start, with
# jax[tpu]); python3-venv is installed first where the image lacks it.
install_command() {
  local dir
  dir=$(quote_words "$REPO_DIR")
  printf '%s' "cd $dir && { python3 -m venv .venv || { sudo apt-get update -q && sudo apt-get install -y -q python3-venv && python3 -m venv .venv; }; } && .venv/bin/pip install -q -U pip && .venv/bin/pip install -q -e . 'jax[tpu]'"
}

do_setup() {
  local dir
  dir=$(quote_words "$REPO_DIR")
  if [ -n "${REPO_URL:-}" ]; then
    stage "setup: clone $REPO_URL into ~/$REPO_DIR on every worker and install it"
    run "${GCLOUD_TPU[@]}" ssh "$TPU_NAME" "${WHERE[@]}" --worker=all --command="set -e; if [ -d $dir/.git ]; then git -C $dir pull -q --ff-only; else git clone -q $(quote_words "$REPO_URL") $dir; fi; $(install_command)"
  else
    local tarball="${TMPDIR:-/tmp}/pegasus_jax-$TPU_NAME.tar.gz"
    stage "setup: copy this checkout's HEAD to ~/$REPO_DIR on every worker and install it"
    run git -C "$REPO_ROOT" archive --format=tar.gz -o "$tarball" HEAD
    run "${GCLOUD_TPU[@]}" scp "$tarball" "$TPU_NAME:pegasus_jax.tar.gz" "${WHERE[@]}" --worker=all
    run "${GCLOUD_TPU[@]}" ssh "$TPU_NAME" "${WHERE[@]}" --worker=all --command="set -e; mkdir -p $dir && tar -xzf pegasus_jax.tar.gz -C $dir && rm pegasus_jax.tar.gz; $(install_command)"
  fi
}

# The training command on a worker, in the background under nohup, appending to LOG; its pid
# goes to train.pid for `stop`.
start_command() {
  local train=(.venv/bin/python -m pegasus_jax.main --config="$CONFIG" --workdir="$WORKDIR" --distributed)
  if [ -n "${DATA_DIR:-}" ]; then
    train+=(--config.data.data_dir="$DATA_DIR")
  fi
  train+=("${OVERRIDES[@]}")
  local dir log
  dir=$(quote_words "$REPO_DIR")
  log=$(quote_words "$LOG")
  printf '%s' "cd $dir || exit 1; nohup $(quote_words "${train[@]}") >> $log 2>&1 < /dev/null & echo \$! > train.pid; echo \"started on \$(hostname), pid \$(cat train.pid)\""
}

start_args() {
  START_ARGS=("${GCLOUD_TPU[@]}" ssh "$TPU_NAME" "${WHERE[@]}" --worker=all --command="$(start_command)")
}

logs_args() {
  LOGS_ARGS=("${GCLOUD_TPU[@]}" ssh "$TPU_NAME" "${WHERE[@]}" --worker=0
             --command="tail -n 100 -F $(quote_words "$REPO_DIR/$LOG")")
}

stop_args() {
  STOP_ARGS=("${GCLOUD_TPU[@]}" ssh "$TPU_NAME" "${WHERE[@]}" --worker=all
             --command="cd $(quote_words "$REPO_DIR") && kill -TERM \"\$(cat train.pid)\"")
}

delete_args() {
  DELETE_ARGS=("${GCLOUD_TPU[@]}" delete "$TPU_NAME" "${WHERE[@]}" --quiet)
}

do_start() {
  stage "$1: train on every worker (the same command resumes from the newest checkpoint in $WORKDIR)"
  start_args
  run "${START_ARGS[@]}"
}

# What to run next, printed after `up` (and by a dry run of it): never run here.
print_next_steps() {
  start_args
  logs_args
  stop_args
  delete_args
  stage "then, when you need them (not run now):"
  stage "logs: follow worker 0's log ($SCRIPT_NAME logs)"
  later "${LOGS_ARGS[@]}"
  stage "tensorboard: watch the run from the shared workdir"
  later tensorboard --logdir "$WORKDIR"
  stage "resume: after a preemption or a stop, the same start command ($SCRIPT_NAME resume CONFIG ...); a preempted VM is deleted and created again first ($SCRIPT_NAME delete, then $SCRIPT_NAME up CONFIG ...)"
  later "${START_ARGS[@]}"
  stage "stop: SIGTERM on every worker; the job saves a checkpoint and exits ($SCRIPT_NAME stop)"
  later "${STOP_ARGS[@]}"
  stage "delete: the TPU VM or pod slice ($SCRIPT_NAME delete); WORKDIR stays in the bucket"
  later "${DELETE_ARGS[@]}"
}

need_config() {
  require_env WORKDIR
  if [ $# -eq 0 ]; then
    usage_error "stage $STAGE needs CONFIG ($USAGE)"
  fi
  CONFIG=$1
  shift
  OVERRIDES=("$@")
  if [[ $WORKDIR != gs://* ]]; then
    printf 'warning: WORKDIR=%s is not on GCS: every worker writes its own copy, and a preempted VM loses it\n' "$WORKDIR" >&2
  fi
}

case "$STAGE" in
  up)
    need_config "$@"
    do_create
    do_setup
    do_start start
    print_next_steps
    ;;
  create) do_create ;;
  setup) do_setup ;;
  start|resume)
    need_config "$@"
    do_start "$STAGE"
    ;;
  logs)
    stage "logs: follow worker 0's log"
    logs_args
    run "${LOGS_ARGS[@]}"
    ;;
  stop)
    stage "stop: SIGTERM on every worker; the job saves a checkpoint and exits"
    stop_args
    run "${STOP_ARGS[@]}"
    ;;
  delete)
    stage "delete: the TPU VM or pod slice"
    delete_args
    run "${DELETE_ARGS[@]}"
    ;;
esac
