#!/usr/bin/env bash
# The pegasus issue's GPU rows in one prepared call of a lent accelerator (about 9 minutes):
#
#   python benchmarks/device_pack.py --data_dir=DIR --classifier=assets/judge   # here, once
#   OUT=$OUT bash benchmarks/device_pegasus.sh       # there, with the device tool's carry=[".device"]
#   MINUTES=2 NUM=64 CANDIDATES=128 STEPS=2 JUDGE_MINUTES=0 bash benchmarks/device_pegasus.sh  # CPU try
#   (under 2 minutes the CPU run saves no checkpoint before its SIGTERM: nothing to draw from)
#
# 1. RECIPE (+ GAN_OVERRIDES: the guide term) trained for MINUTES (benchmarks/device_run.sh,
#    scored by the JUDGE).
# 2. The pegasus methods on that run, each one row of EVALUATION.md's "Pegasus methods" table
#    (benchmarks/pegasus_methods.py): NUM outputs from CANDIDATES latents, steered by
#    SELECT_GUIDE (not the GUIDE the generator trained against: EVALUATION.md, "Selection by
#    guides the generator never saw"), numbers from the JUDGE (never called by a method).
# 3. Only when DATA_DIR holds CIFAR-10 (TFDS): the judge's recipe trained on the accelerator for
#    JUDGE_MINUTES, its held-out accuracy in judge_train.log.
# 4. benchmarks/compare_torch.py with its torch.compile column, both frameworks on the device.
# Every stage has its own time limit; a failing stage does not stop the later ones. OUT then holds
# session.log, the methods' row JSONs and pictures (as methods.tgz), grid.png, compare_torch.txt.
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
OUT=${OUT:-device_out}
MINUTES=${MINUTES:-4}
RECIPE=${RECIPE:-configs/jointgan.py}  # the full recipe; the CPU's best row is the alternative
GUIDE=${GUIDE:-assets/guide}
SELECT_GUIDE=${SELECT_GUIDE:-assets/select_guide}
# The best measured method of training: the guide term at lambda 0.3 (EVALUATION.md, "The guide
# term's weight") with a blur in the guide's view ("Issue 18's candidates"); GAN_OVERRIDES=''
# trains the recipe without it.
GAN_OVERRIDES=${GAN_OVERRIDES---config.guide.classifier=$GUIDE --config.guide.weight=0.3 --config.guide.augment=color,translation,cutout,blur}
JUDGE=${JUDGE:-assets/judge}
METHODS=${METHODS:-select guided_latent}
NUM=${NUM:-1000}
CANDIDATES=${CANDIDATES:-8000}
STEPS=${STEPS:-20}  # guided latent steps and compare_torch's timed steps
JUDGE_MINUTES=${JUDGE_MINUTES:-2}
DATA_DIR=${DATA_DIR:-}
PACK=${PACK:-.device}
PYTHON=${PYTHON:-python3}
DEADLINE=${DEADLINE:-560}
RESULTS=${RESULTS:-/tmp/device_pegasus}
mkdir -p "$OUT" "$RESULTS"
export PYTHONPATH="$PACK/site:$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

stage() { echo "== $* ($SECONDS s since the start)"; }
limit() { local left=$((DEADLINE - SECONDS - 15)); echo $(($1 < left ? $1 : (left > 1 ? left : 1))); }

main() {
  stage "environment: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  timeout 120 "$PYTHON" -c 'import jax; print("jax", jax.__version__, jax.devices())'
  [ "$GUIDE" != "$JUDGE" ] && [ "$SELECT_GUIDE" != "$JUDGE" ] ||
    { echo "GUIDE, SELECT_GUIDE and JUDGE must differ" >&2; return 2; }

  stage "1. $RECIPE for $MINUTES min, scored by the judge"
  local images=()
  [ -d "$PACK/images" ] && images=(IMAGES="$PACK/images")
  env OUT="$RESULTS/train" WORK="$RESULTS/work" CONFIG="$RECIPE" MINUTES="$MINUTES" \
    CLASSIFIER="$JUDGE" NUM_SAMPLES="$NUM" PYTHON="$PYTHON" SITE="$PACK/site" \
    ${DATA_DIR:+DATA_DIR=$DATA_DIR} "${images[@]}" \
    timeout "$(limit $((${MINUTES%.*} * 60 + 240)))" bash benchmarks/device_run.sh $GAN_OVERRIDES
  cp "$RESULTS/train/grid.png" "$OUT/grid.png" 2>/dev/null

  for method in $METHODS; do
    stage "2. method $method"
    timeout "$(limit 240)" "$PYTHON" benchmarks/run_module.py benchmarks/pegasus_methods.py \
      --workdir="$RESULTS/work/gan" --guide="$SELECT_GUIDE" --judge="$JUDGE" --method="$method" \
      --num="$NUM" --candidates="$CANDIDATES" --steps="$STEPS" \
      ${DATA_DIR:+--data_dir=$DATA_DIR} --out="$RESULTS/methods/$method"
  done
  tar czf "$OUT/methods.tgz" -C "$RESULTS" methods train 2>/dev/null

  if [ -n "$DATA_DIR" ] && [ "$JUDGE_MINUTES" != 0 ]; then
    stage "3. the judge's recipe for $JUDGE_MINUTES min"
    timeout "$(limit $((JUDGE_MINUTES * 60)))" "$PYTHON" -m pegasus_jax.main \
      --config=configs/classifier.py:judge --workdir="$RESULTS/judge" \
      --config.data.data_dir="$DATA_DIR" > "$OUT/judge_train.log" 2>&1
    grep -E "eval/accuracy=|Finished" "$OUT/judge_train.log" | cut -c1-160
  fi

  stage "4. JAX vs PyTorch (eager and torch.compile)"
  timeout "$(limit 180)" "$PYTHON" benchmarks/compare_torch.py --steps="$STEPS" --warmup=3 \
    ${COMPARE_ARGS:-} 2>&1 | grep -v "^[IW]0000" | tee "$OUT/compare_torch.txt"
  stage "done"
}

main 2>&1 | tee "$OUT/session.log"
