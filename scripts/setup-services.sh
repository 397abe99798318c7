#!/usr/bin/env bash
# Installs the Debian programs that the tests start themselves: redis-server (the distributed trial queue's tests
# start their own on a free loopback port) and chromium (the UI's browser tests, driven by playwright-core; never a
# browser download). Does nothing for a program that is already on the PATH.
set -euo pipefail

log() { echo "[setup-services] $*"; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  log "redis-server and chromium present; nothing to do"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "no apt-get: install ${missing[*]} with your package manager"
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "installing ${missing[*]} needs root: run as root or install sudo"
    exit 1
  fi
fi
log "installing ${missing[*]} with apt-get"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# The package's own service is not wanted: tests start their own servers.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
log "installed ${missing[*]}"
