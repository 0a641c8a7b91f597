#!/usr/bin/env bash
# Everything a lent GPU machine's one prepared call measures, in about 9 minutes:
#
#   python benchmarks/device_pack.py --data_dir=DIR --classifier=CLASSIFIER_WORKDIR   # here
#   OUT=$OUT bash benchmarks/device_session.sh          # there, with the device tool's carry=[".device"]
#
# 1. Two JointGAN recipes trained side by side on the one GPU for MINUTES each, then sampled
#    (5,000 images) and scored by the carried classifier (benchmarks/device_run.sh each):
#    `full` is configs/jointgan.py as shipped (non-saturating, Adam (0.5, 0.999), lr 2e-4);
#    `hinge_ttur_ema` is the CPU ablation's winner at full size (hinge, Adam (0, 0.9), D lr
#    4e-4) with an EMA generator (0.999 from step 1,000) for sampling.
# 2. benchmarks/compare_torch.py: JAX vs PyTorch eager, both on the GPU.
# 3. benchmarks/train_step.py: float32 vs bfloat16 step time.
# OUT then holds session.log, compare_torch.txt, precision.txt, the two grids and runs.tgz (each
# run's evaluation.json, metrics.json, log and panel): within the 8 files a call sends back.
# Every stage has its own time limit and a failing stage does not stop the later ones.
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
OUT=${OUT:-device_out}
MINUTES=${MINUTES:-3.5}
DEADLINE=${DEADLINE:-560}  # seconds: every stage's limit is cut to end before this
PACK=${PACK:-.device}
RESULTS=${RESULTS:-/tmp/device_session}
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-20}  # timed steps of each benchmark row
COMPARE_ARGS=${COMPARE_ARGS:-}  # more compare_torch.py flags (a CPU try: --configs=jointgan --k=1)
mkdir -p "$OUT" "$RESULTS"
export PYTHONPATH="$PACK/site:$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Two training processes share the GPU: neither may take JAX's default 75% of its memory.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.3}
export PYTHONUNBUFFERED=1

stage() { echo "== $* ($SECONDS s since the start)"; }
# A stage's time limit: its own, or what is left before DEADLINE (15 s kept for packaging).
limit() { local left=$((DEADLINE - SECONDS - 15)); echo $(($1 < left ? $1 : (left > 1 ? left : 1))); }

recipe_overrides() {
  case $1 in
    full) ;;
    hinge_ttur_ema)
      echo --config.loss=hinge --config.optimizer.b1=0.0 --config.optimizer.b2=0.9 \
        --config.optimizer.d_lr=4e-4 --config.ema.decay=0.999 --config.ema.start_step=1000 ;;
    *) echo "unknown recipe $1" >&2; return 2 ;;
  esac
}

package() {  # what comes back: small files only (no checkpoints)
  tar czf "$OUT/runs.tgz" -C "$RESULTS" . 2>/dev/null
  for recipe in full hinge_ttur_ema; do
    [ -f "$RESULTS/$recipe/grid.png" ] && cp "$RESULTS/$recipe/grid.png" "$OUT/grid_$recipe.png"
  done
  return 0
}

main() {
  stage "environment: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  timeout 120 "$PYTHON" -c 'import jax, flax, optax, orbax.checkpoint as o, torch; print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__, "orbax", o.__version__ if hasattr(o, "__version__") else "?", "torch", torch.__version__); print(jax.devices())'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

  stage "1. two recipes for $MINUTES min each, side by side"
  local pids=()
  for recipe in full hinge_ttur_ema; do
    # shellcheck disable=SC2046
    OUT="$RESULTS/$recipe" WORK="/tmp/work_$recipe" SITE="$PACK/site" IMAGES="$PACK/images" \
      CLASSIFIER="$PACK/classifier" MINUTES="$MINUTES" PYTHON="$PYTHON" \
      timeout "$(limit $((${MINUTES%.*} * 60 + 200)))" bash benchmarks/device_run.sh \
        $(recipe_overrides "$recipe") > "$RESULTS/$recipe.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    echo "recipe $i exited $?"
  done
  for recipe in full hinge_ttur_ema; do
    echo "--- $recipe"
    grep -E "^== |steps?/s|step [0-9]+" "$RESULTS/$recipe.out" | tail -8
    [ -f "$RESULTS/$recipe/evaluation.json" ] && cat "$RESULTS/$recipe/evaluation.json"
  done
  package

  stage "2. JAX vs PyTorch on the GPU"
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.5 timeout "$(limit 150)" "$PYTHON" benchmarks/compare_torch.py \
    --steps="$STEPS" --warmup=5 $COMPARE_ARGS 2>&1 | grep -v "^[IW]0000" | tee "$OUT/compare_torch.txt"

  stage "3. float32 vs bfloat16 step time"
  {
    for precision in float32 bfloat16; do
      echo "precision $precision"
      timeout "$(limit 60)" "$PYTHON" benchmarks/run_module.py benchmarks/train_step.py \
        --classes=1,10 --steps="$STEPS" --warmup=5 --set=precision="$precision"
    done
    for precision in float32 bfloat16; do
      echo "precision $precision"
      timeout "$(limit 45)" "$PYTHON" benchmarks/run_module.py benchmarks/train_step.py \
        --config=configs/sngan_cifar.py --classes=1 --steps="$STEPS" --warmup=3 \
        --set=precision="$precision"
    done
  } 2>&1 | grep -v "^[IW]0000" | tee "$OUT/precision.txt"
  package
  stage "done"
}

main 2>&1 | tee "$OUT/session.log"
