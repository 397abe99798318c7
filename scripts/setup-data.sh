#!/usr/bin/env bash
# Installs Fashion-MNIST from Debian's package dataset-fashion-mnist (gzipped IDX files in
# /usr/share/datasets/fashion-mnist) when the files are missing. Does nothing when they are all present.
# Needs root or sudo; the package comes from the machine's own apt sources.
set -euo pipefail

log() { echo "[setup-data] $*"; }

DIR=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

all_present() {
  local f
  for f in $FILES; do [ -s "$DIR/$f" ] || return 1; done
}

if all_present; then
  log "Fashion-MNIST present in $DIR; nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no apt-get: download Fashion-MNIST's four IDX files ($FILES) and pass their directory with --data-dir"
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "installing dataset-fashion-mnist needs root: run as root or install sudo"
    exit 1
  fi
fi

log "installing dataset-fashion-mnist with apt-get"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null

if all_present; then
  log "installed Fashion-MNIST in $DIR"
else
  log "dataset-fashion-mnist is installed but $DIR lacks some of: $FILES"
  exit 1
fi
