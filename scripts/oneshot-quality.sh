#!/usr/bin/env bash
# Issue 6's quality benchmark: one-shot search on real Fashion-MNIST at (roughly) equal wall-clock, then the SAME
# retrain for every architecture. Over examples/fashion-cells.ts (343 architectures):
#   1. `nasgraph search --strategy darts | enas | spos` with the same --train-size/--valid-size/--batch/--seed; the
#      epochs (and SPOS's evolution budget) are calibrated so that each search takes about the same time on two
#      loaded CPU cores with lavapipe (measured: DARTS ≈ 2.2 s per step — two mixed passes —, ENAS ≈ 1.5 s per
#      child step + controller sample, SPOS ≈ 0.8 s per sampled step + its evolution). The search's own retrain is
#      skipped (--retrain-epochs 0):
#   2. every derived architecture AND 5 random architectures of the same space (seed 2026, bench/quality/
#      random-archs.ts) are retrained by ONE command line, `nasgraph retrain` with Adam lr 3e-3, batch 32, seed 0
#      (the one-shot CLI's retrain settings), on the first RETRAIN_SIZE training images, tested on the full test set.
#      (The search's in-process retrain would train on its own train+valid split instead: using one command for
#      all eight architectures makes the comparison exact.)
# Writes bench/quality/: archs/*.json, logs/*.txt (each run's output, with the load average), runs/<name>/
# (arch.json, history.json, result.json; metrics.json of retrains). Summarize: npx tsx bench/quality/summarize.ts.
# Runs sequentially; about 45 minutes on a loaded 2-core machine. `STAGES="search retrain"` picks stages,
# SEARCHES="darts enas spos" and RETRAINS="darts … random-5" the runs (e.g. SEARCHES=enas RETRAINS=enas to redo one).
set -uo pipefail
cd "$(dirname "$0")/.."
Q=bench/quality
TRAIN_SIZE=${TRAIN_SIZE:-2500}
VALID_SIZE=${VALID_SIZE:-2500}
RETRAIN_EPOCHS=${RETRAIN_EPOCHS:-1}
RETRAIN_SIZE=${RETRAIN_SIZE:-10000}
STAGES=${STAGES:-"search retrain"}
SEARCHES=${SEARCHES:-"darts enas spos"}
RETRAINS=${RETRAINS:-"darts enas spos random-1 random-2 random-3 random-4 random-5"}
mkdir -p "$Q/logs" "$Q/archs" "$Q/runs"
nasgraph() { npx --no-install nasgraph "$@"; }
stamp() { echo "# $(date -Is) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
# The space file's content hash goes into every log: runs are comparable only on the same examples/fashion-cells.ts.
space() { echo "# examples/fashion-cells.ts sha1 $(sha1sum examples/fashion-cells.ts | cut -c1-12) (last commit $(git log -1 --format=%h -- examples/fashion-cells.ts))"; }

# search NAME STRATEGY OPTIONS EPOCHS
search() {
  local name=$1 strategy=$2 options=$3 epochs=$4 out="$Q/runs/search-$1"
  rm -rf "$out"
  {
    stamp
    space
    echo "# nasgraph search examples/fashion-cells.ts --strategy $strategy --strategy-options '$options' --epochs $epochs --train-size $TRAIN_SIZE --valid-size $VALID_SIZE --batch 32 --seed 0 --retrain-epochs 0"
    local t0=$SECONDS
    nasgraph search examples/fashion-cells.ts --strategy "$strategy" --strategy-options "$options" --epochs "$epochs" \
      --train-size "$TRAIN_SIZE" --valid-size "$VALID_SIZE" --batch 32 --seed 0 --retrain-epochs 0 --out "$out" 2>&1
    echo "# exit $? after $((SECONDS - t0)) s wall"
    stamp
  } | grep -v 'npm warn' > "$Q/logs/search-$name.txt"
  cp "$out/arch.json" "$Q/archs/$name.json" 2>/dev/null || echo "search $name: no arch.json" >&2
  rm -f "$out/supernet.safetensors"
}

# retrain NAME ARCHFILE
retrain() {
  local name=$1 arch=$2 out="$Q/runs/retrain-$1"
  rm -rf "$out"
  {
    stamp
    space
    echo "# nasgraph retrain examples/fashion-cells.ts --arch $arch --epochs $RETRAIN_EPOCHS --batch 32 --optimizer adam --lr 0.003 --seed 0 --train-size $RETRAIN_SIZE"
    local t0=$SECONDS
    nasgraph retrain examples/fashion-cells.ts --arch "$arch" --data fashion-mnist --epochs "$RETRAIN_EPOCHS" --batch 32 \
      --optimizer adam --lr 0.003 --seed 0 --train-size "$RETRAIN_SIZE" --out "$out" 2>&1
    echo "# exit $? after $((SECONDS - t0)) s wall"
    stamp
  } | grep -v 'npm warn' > "$Q/logs/retrain-$name.txt"
  rm -f "$out"/*.safetensors
}

if [[ " $STAGES " == *" search "* ]]; then
  # Epochs per algorithm for ≈ 3 minutes each (measured at load 8 on 2 cores: DARTS 177 s per epoch of 78 steps;
  # ENAS 24–40 s per epoch — fast once its controller settles on a few architectures, whose subnets stay
  # compiled: 2 epochs took 48 s, 8 took 317 s —; SPOS
  # ≈ 23 s per epoch plus ≈ 5 s per candidate of its evolution).
  for s in $SEARCHES; do
    case $s in
      darts) search darts darts '{}' 1 ;;
      enas) search enas enas '{}' "${ENAS_EPOCHS:-5}" ;;
      spos) search spos spos '{"generations":3,"population":10,"mutations":5,"crossovers":5,"topK":5,"recalibrationBatches":10,"evalSize":1000}' 2 ;;
    esac
  done
fi
if [[ " $STAGES " == *" retrain "* ]]; then
  npx --no-install tsx "$Q/random-archs.ts" examples/fashion-cells.ts 5 2026 "$Q/archs" | grep -v 'npm warn'
  for name in $RETRAINS; do
    [[ -f "$Q/archs/$name.json" ]] && retrain "$name" "$Q/archs/$name.json"
  done
fi
echo "done $(date -Is)"
