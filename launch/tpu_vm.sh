#!/usr/bin/env bash
# Start a training job on every worker of a Cloud TPU VM (single host or pod slice).
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b WORKDIR=gs://my-bucket/runs/jointgan \
#     DATA_DIR=gs://my-bucket/tensorflow_datasets launch/tpu_vm.sh configs/jointgan.py [overrides...]
#
# Every worker runs the same command (JAX is SPMD across hosts); --distributed makes each call
# jax.distributed.initialize(), which finds its peers from the TPU metadata. WORKDIR must be
# shared by all workers (a GCS bucket): Orbax writes one checkpoint from all of them, and the
# same command resumes after a preemption. Set up the VMs once with SETUP=1 (installs the repo
# from REPO_URL and jax[tpu]).
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${WORKDIR:?set WORKDIR (shared, e.g. gs://...)}"
CONFIG="${1:?usage: launch/tpu_vm.sh CONFIG [--config.field=value ...]}"; shift
DATA_DIR_FLAG=""
[ -n "${DATA_DIR:-}" ] && DATA_DIR_FLAG="--config.data.data_dir=${DATA_DIR}"
REPO_DIR="${REPO_DIR:-pegasus_jax}"

if [ "${SETUP:-0}" = "1" ]; then
  : "${REPO_URL:?set REPO_URL to clone on the workers}"
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "
    set -e; [ -d $REPO_DIR ] || git clone $REPO_URL $REPO_DIR; cd $REPO_DIR
    python3 -m venv .venv && .venv/bin/pip install -q -U pip
    .venv/bin/pip install -q -e . 'jax[tpu]' -f https://storage.googleapis.com/jax-releases/libtpu_releases.html"
fi

gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "
  cd $REPO_DIR && nohup .venv/bin/python -m pegasus_jax.main --distributed \
    --config=$CONFIG --workdir=$WORKDIR $DATA_DIR_FLAG $* > train.log 2>&1 &
  echo started on \$(hostname)"
echo "Logs: gcloud compute tpus tpu-vm ssh $TPU_NAME --zone $ZONE --worker=0 --command 'tail -f $REPO_DIR/train.log'"
