#!/usr/bin/env bash
# The main job (README): a ONE-SHOT search — DARTS on examples/fashion-cells.ts (343 architectures: three layers,
# each one of seven DARTS operations) on real Fashion-MNIST: the supernet is trained for 3 epochs on 2,500 images
# while its architecture weights learn from 2,500 others; the derived architecture is then retrained from scratch
# (2 epochs on 10,000 images) and tested on the 10,000 test images. Sized to finish in about 10 minutes on two CPU
# cores with lavapipe (measured figures: README). Run scripts/setup.sh first. Extra arguments are passed on
# (e.g. --strategy enas, --device nvidia, --out DIR, or --resume after a Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
out="runs/darts-$(date +%Y%m%d-%H%M%S)"
for a in "$@"; do [[ "$a" == "--out" ]] && out=""; done
exec npx --no-install nasgraph search examples/fashion-cells.ts \
  --strategy darts --epochs 3 --lr 0.1 --train-size 2500 --valid-size 2500 --batch 32 \
  --retrain-epochs 2 --retrain-size 10000 --seed 0 \
  ${out:+--out "$out"} "$@"
