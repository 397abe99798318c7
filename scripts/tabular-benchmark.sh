#!/usr/bin/env bash
# The tabular benchmarks of issue 15, resumable: every architecture of examples/fashion-small.ts (72) and of
# examples/fashion-cells.ts (343, "NB-FC343") trained standalone with 3 seeds each, one fixed recipe
# (bench/tabular/run.ts: RECIPE — 1 epoch of Adam 3e-3, batch 32, on 3,000 Fashion-MNIST images; validation on a
# fixed 1,000-image hold-out, test on the first 2,000 test images). Each finished training appends one line to
# bench/tabular/<table>.jsonl; <table>.meta.json records the recipe, the commit and the adapter of every run.
# Kill it at any point: it loses at most the training in flight, and the next run continues where it stopped.
# A fresh Node process every 20 trainings (bounded memory). Pass table names to run only those.
#
#   nice -n 10 scripts/tabular-benchmark.sh                 # fashion-small, then fashion-cells
#   nice -n 10 scripts/tabular-benchmark.sh fashion-cells
#
# (The old one-seed table, a `nasgraph search --strategy grid` trial log of fashion-small, is
# bench/tabular/fashion-small-1seed.jsonl: kept, the strategy tests use it until the 3-seed table is complete.)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-0}
tables=("$@")
[ ${#tables[@]} -eq 0 ] && tables=(fashion-small fashion-cells)
for t in "${tables[@]}"; do
  while :; do
    rc=0
    npx --no-install tsx bench/tabular/run.ts "$t" --max 20 || rc=$?
    [ "$rc" -eq 0 ] && break
    [ "$rc" -eq 3 ] && continue
    echo "tabular-benchmark: $t stopped with exit code $rc" >&2
    exit "$rc"
  done
done
