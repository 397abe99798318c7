#!/usr/bin/env bash
# Regenerates the tabular benchmark of the search strategies: every architecture of examples/fashion-small.ts
# (72) trained once with the main job's trial budget (1 epoch on 3,000 Fashion-MNIST images, validation accuracy
# on 1,000 held-out ones, seed 0), by grid search. The trial log is the table: bench/tabular/fashion-small.jsonl
# (one JSON record per architecture; `architecture.canonical` → `objective`). About 8 minutes on lavapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
npx --no-install nasgraph search examples/fashion-small.ts --strategy grid --data fashion-mnist --trials 72 \
  --epochs 1 --train-size 3000 --valid-size 1000 --batch 32 --lr 0.003 --retrain-epochs 0 --seed 0 --out "$out" "$@"
mkdir -p bench/tabular
cp "$out/trials.jsonl" bench/tabular/fashion-small.jsonl
echo "wrote bench/tabular/fashion-small.jsonl ($(wc -l < bench/tabular/fashion-small.jsonl) architectures)"
