#!/usr/bin/env bash
# Sets up a fresh machine for nasgraph: the Vulkan driver Dawn needs (when no usable one is present), Debian's
# Fashion-MNIST package (the main job's data), and the npm packages (a clean `npm ci`). Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-vulkan.sh
bash scripts/setup-data.sh
echo "[setup] npm ci"
npm ci --no-audit --no-fund --loglevel=error
