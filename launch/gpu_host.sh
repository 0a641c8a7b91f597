#!/usr/bin/env bash
# Start a training job on a GPU host (all its GPUs, data-parallel over one mesh).
#
#   launch/gpu_host.sh configs/jointgan.py runs/jointgan [--config.field=value ...]
#
# Install once with CUDA wheels:  pip install -e . 'jax[cuda12]'
# One process drives every local GPU (jit over a Mesh of all devices); TensorFlow is hidden
# from the GPUs at start-up so tf.data does not take their memory. For several GPU hosts, run
# this on each host with a shared WORKDIR and
#   --distributed --coordinator_address=HOST0:PORT --num_processes=N --process_id=I
# (under SLURM or Open MPI, --distributed alone: JAX detects the rest). The same flags run two
# processes on one machine, as tests/test_multiprocess.py does on CPU. Re-running the same
# command resumes from the last checkpoint.
set -euo pipefail
CONFIG="${1:?usage: launch/gpu_host.sh CONFIG WORKDIR [overrides...]}"
WORKDIR="${2:?usage: launch/gpu_host.sh CONFIG WORKDIR [overrides...]}"
shift 2
PY="${PYTHON:-python}"
mkdir -p "$WORKDIR"
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
exec "$PY" -m pegasus_jax.main --config="$CONFIG" --workdir="$WORKDIR" "$@" \
  2>&1 | tee -a "$WORKDIR/train.log"
