#!/usr/bin/env bash
# The classic job (README): a classic NAS over examples/fashion-small.ts on real Fashion-MNIST with regularized
# evolution, then the retrain of the best architecture and its test accuracy. Sized to finish in under ~10
# minutes on two CPU cores with lavapipe (measured figures: see the README). Run scripts/setup.sh first.
# Extra arguments are passed on (e.g. --data-dir DIR, --device nvidia, --out DIR, or --resume after a Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
out="runs/fashion-small-$(date +%Y%m%d-%H%M%S)"
for a in "$@"; do [[ "$a" == "--out" ]] && out=""; done
exec npx --no-install nasgraph search examples/fashion-small.ts \
  --strategy evolution --strategy-options '{"population":6,"sample":3}' \
  --trials 12 --epochs 1 --train-size 3000 --valid-size 1000 --batch 32 --lr 0.003 \
  --retrain-epochs 2 --retrain-size 10000 --seed 0 \
  ${out:+--out "$out"} "$@"
