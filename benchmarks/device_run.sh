#!/usr/bin/env bash
# Train a GAN recipe for a given number of minutes, then sample it and score the samples with the
# project's classifier: one prepared call on a lent GPU machine (or any host; on the CPU with a
# tiny budget).
#
#   [VAR=value ...] benchmarks/device_run.sh [--dry-run] [--config.field=value ...]
#
# --dry-run   print the commands (lines starting with '+ ') and run none.
# Arguments after it are overrides of the GAN config (e.g. --config.batch_size=128).
#
# Steps:
#  1. only when CLASSIFIER holds no checkpoint: train CLASSIFIER_CONFIG into it for
#     CLASSIFIER_MINUTES (needs CIFAR-10 through TFDS);
#  2. train CONFIG into WORK/gan for MINUTES of wall time (start-up and compilation included):
#     `timeout` then sends SIGTERM, and the training loop finishes its step, saves a checkpoint
#     and exits 0 (an existing WORK/gan resumes and trains MINUTES more);
#  3. sample NUM_SAMPLES images (WORK/samples.npz) and a 64-image grid;
#  4. score the samples with the classifier (python -m pegasus_jax.evaluate);
#  5. export the run's TensorBoard scalars.
# OUT then holds grid.png, evaluation.json, metrics.json (the GAN run's scalars), device_run.log,
# classifier_metrics.json when step 1 ran, and whatever evaluate writes beside its JSON: fewer
# than the 8 files a lent machine sends back.
#
# Environment (all optional):
#   OUT                  results folder (default ./device_out)
#   MINUTES              GAN training wall minutes (default 6; decimals allowed)
#   CONFIG               GAN config[:variant] (default configs/jointgan.py, the full recipe)
#   DATA_DIR             TFDS data_dir holding cifar10 (the GAN's and the classifier's)
#   IMAGES               instead of TFDS for the GAN: a folder with one sub-folder per class
#                        (config.data.name=image_folder; benchmarks/device_pack.py writes one)
#   CLASSIFIER           classifier workdir (default WORK/classifier)
#   CLASSIFIER_CONFIG    what step 1 trains (default configs/classifier.py:cpu)
#   CLASSIFIER_MINUTES   step 1's wall minutes (default 10)
#   CLASSIFIER_OVERRIDES step 1's config overrides, separated by blanks
#   CLASSES              classes the samples are compared with (default horse,bird)
#   NUM_SAMPLES          samples scored (default 5000)
#   WORK                 the runs and samples (default /tmp/pegasus_device_run)
#   PYTHON               interpreter (default python3)
#   SITE                 folders put on PYTHONPATH before the repository (e.g. .device/site)
#
# On a lent GPU machine (no network, no TensorFlow, no ml_collections or clu): first, here,
#   python benchmarks/device_pack.py --data_dir=DIR --classifier=CLASSIFIER_WORKDIR
# then in one call of the device tool with carry=[".device"]:
#   OUT=$OUT SITE=.device/site IMAGES=.device/images CLASSIFIER=.device/classifier \
#     MINUTES=6 bash benchmarks/device_run.sh
# Every Python command goes through benchmarks/run_module.py, which lets clu import where
# TensorFlow is missing. Exit status 2: a usage error; otherwise the failing step's status.
set -euo pipefail

SCRIPT_NAME=benchmarks/device_run.sh
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "$REPO_ROOT/launch/lib.sh"
USAGE="usage: [OUT=DIR MINUTES=M CONFIG=C DATA_DIR=D IMAGES=I CLASSIFIER=DIR ...] $SCRIPT_NAME [--dry-run] [--config.field=value ...]"

if take_dry_run "$@"; then shift; fi
exit_if_help "$@"
for arg in "$@"; do
  [[ $arg == --config.* ]] ||
    usage_error "unexpected argument $arg: only --config.field=value overrides follow ($USAGE)"
done

OUT=${OUT:-device_out}
MINUTES=${MINUTES:-6}
CONFIG=${CONFIG:-$REPO_ROOT/configs/jointgan.py}
CLASSIFIER_CONFIG=${CLASSIFIER_CONFIG:-$REPO_ROOT/configs/classifier.py:cpu}
CLASSIFIER_MINUTES=${CLASSIFIER_MINUTES:-10}
CLASSES=${CLASSES:-horse,bird}
NUM_SAMPLES=${NUM_SAMPLES:-5000}
WORK=${WORK:-/tmp/pegasus_device_run}
CLASSIFIER=${CLASSIFIER:-$WORK/classifier}
PYTHON=${PYTHON:-python3}
WORKDIR=$WORK/gan
SAMPLES=$WORK/samples.npz
# SIGTERM's grace: the training loop saves a checkpoint before it exits; SIGKILL after this.
GRACE=120s

is_minutes() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ ! $1 =~ ^0+([.]0+)?$ ]]; }
is_minutes "$MINUTES" || usage_error "MINUTES=$MINUTES is not a positive number of minutes"
is_minutes "$CLASSIFIER_MINUTES" ||
  usage_error "CLASSIFIER_MINUTES=$CLASSIFIER_MINUTES is not a positive number of minutes"
[[ $NUM_SAMPLES =~ ^[0-9]+$ ]] && [ "$NUM_SAMPLES" -ge 2 ] ||
  usage_error "NUM_SAMPLES=$NUM_SAMPLES must be an integer >= 2"
if [ -n "${IMAGES:-}" ] && [ "$DRY_RUN" = 0 ] && [ ! -d "$IMAGES" ]; then
  usage_error "IMAGES=$IMAGES is not a directory"
fi

has_checkpoint() {  # a classifier workdir with a checkpoint (object storage: assumed)
  [[ $1 == *://* ]] && return 0
  # or an inference-only export such as assets/judge (pegasus_jax/run/export.py: run.json)
  [ -f "$1/run.json" ] || compgen -G "$1/checkpoints/*" >/dev/null ||
    compgen -G "$1/checkpoints_best/*" >/dev/null
}
TRAIN_CLASSIFIER=0
if ! has_checkpoint "$CLASSIFIER"; then
  TRAIN_CLASSIFIER=1
  if [ -n "${IMAGES:-}" ] && [ -z "${DATA_DIR:-}" ]; then
    usage_error "CLASSIFIER=$CLASSIFIER holds no checkpoint, and training one needs CIFAR-10 through TFDS (DATA_DIR=...); on a machine without TFDS carry a trained one (benchmarks/device_pack.py)"
  fi
fi

export PYTHONPATH="${SITE:+$SITE:}$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY=("$PYTHON" "$REPO_ROOT/benchmarks/run_module.py")
DATA_ARGS=()
[ -n "${DATA_DIR:-}" ] && DATA_ARGS+=(--config.data.data_dir="$DATA_DIR")
GAN_DATA_ARGS=("${DATA_ARGS[@]}")
[ -n "${IMAGES:-}" ] && GAN_DATA_ARGS=(--config.data.name=image_folder --config.data.path="$IMAGES")
EVAL_DATA_ARGS=()
[ -n "${DATA_DIR:-}" ] && EVAL_DATA_ARGS+=(--data_dir="$DATA_DIR")
read -r -a CLASSIFIER_ARGS <<< "${CLASSIFIER_OVERRIDES:-}"

START=$SECONDS
elapsed() { stage "$1 ($((SECONDS - START)) s since the start)"; }

# Each timed training gets SIGTERM after its minutes and exits 0 having saved a checkpoint;
# --preserve-status reports that 0 (or the job's own failure) instead of timeout's 124.
timed() {
  local minutes=$1
  shift
  run timeout --preserve-status --signal=TERM --kill-after="$GRACE" "${minutes}m" "$@"
}

# The versions that matter (the lent machines' differ from where the code was tested) and the
# devices JAX sees; a broken JAX install stops here, in seconds.
VERSIONS='import sys, jax; from importlib.metadata import version as v; print("python", sys.version.split()[0], *[f"{p} {v(p)}" for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint")]); print("devices:", jax.devices())'

steps() {
  elapsed "environment: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on ${HOSTNAME:-this host}"
  run "$PYTHON" -c "$VERSIONS"
  if command -v nvidia-smi >/dev/null; then
    run nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi

  if [ "$TRAIN_CLASSIFIER" = 1 ]; then
    elapsed "classifier: none in $CLASSIFIER; train $CLASSIFIER_CONFIG for $CLASSIFIER_MINUTES min"
    timed "$CLASSIFIER_MINUTES" "${PY[@]}" pegasus_jax.main --config="$CLASSIFIER_CONFIG" \
      --workdir="$CLASSIFIER" "${DATA_ARGS[@]}" "${CLASSIFIER_ARGS[@]}"
  else
    elapsed "classifier: $CLASSIFIER (already trained)"
  fi

  elapsed "train: $CONFIG for $MINUTES min into $WORKDIR"
  timed "$MINUTES" "${PY[@]}" pegasus_jax.main --config="$CONFIG" --workdir="$WORKDIR" \
    "${GAN_DATA_ARGS[@]}" "$@"

  elapsed "sample: $NUM_SAMPLES images and a grid from the newest checkpoint"
  run "${PY[@]}" pegasus_jax.sample --workdir="$WORKDIR" --num="$NUM_SAMPLES" --out="$SAMPLES"
  run "${PY[@]}" pegasus_jax.sample --workdir="$WORKDIR" --num=64 --out="$OUT/grid.png"

  elapsed "score: the samples against real $CLASSES"
  run "${PY[@]}" pegasus_jax.evaluate --samples="$SAMPLES" --classifier="$CLASSIFIER" \
    --classes="$CLASSES" --json="$OUT/evaluation.json" "${EVAL_DATA_ARGS[@]}"

  elapsed "metrics: the run's TensorBoard scalars"
  run "$PYTHON" "$REPO_ROOT/benchmarks/export_scalars.py" "$WORKDIR" --out="$OUT/metrics.json"
  if [ "$TRAIN_CLASSIFIER" = 1 ]; then
    run "$PYTHON" "$REPO_ROOT/benchmarks/export_scalars.py" "$CLASSIFIER" \
      --out="$OUT/classifier_metrics.json"
  fi
  elapsed "done: results in $OUT"
}

if [ "$DRY_RUN" = 1 ]; then
  steps "$@"
else
  mkdir -p "$OUT" "$WORK"
  steps "$@" 2>&1 | tee -a "$OUT/device_run.log"  # pipefail: a failed step fails the script
fi
