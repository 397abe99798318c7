#!/usr/bin/env bash
# Sets up a fresh machine for nasgraph: the Vulkan driver Dawn needs (when no usable one is present), Debian's
# Fashion-MNIST package (the main job's data), redis-server and chromium (started by the tests themselves), and the
# npm packages (a clean install from package-lock.json).
# Safe to run again: the driver and the data set are skipped when present; node_modules is installed afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-vulkan.sh
bash scripts/setup-data.sh
bash scripts/setup-services.sh
# A clean install of exactly the locked versions. Not `npm ci`: registries that serve only the host platform's
# optional packages (as this project's does) leave the other platforms' optional packages (e.g. rollup's android or
# win32 binaries) out of the lock, and `npm ci` then refuses the lock as out of sync. `npm install --no-save` into an
# empty node_modules installs the same locked tree and never rewrites package.json or the lock.
echo "[setup] clean npm install from package-lock.json"
rm -rf node_modules
npm install --no-save --no-audit --no-fund --loglevel=error
# The NAS UI's page (ui/dist, not committed): type-checked and bundled by Vite; `nasgraph ui` serves it.
echo "[setup] build the NAS UI page"
npm run build:ui --silent
