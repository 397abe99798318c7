#!/usr/bin/env bash
# Installs a Vulkan driver that Dawn (the `webgpu` npm package) can use on a machine without a GPU:
# Mesa's lavapipe (CPU Vulkan) >= 23 from Debian bookworm-backports. Bookworm's own mesa 22.3 is too old for
# Dawn ("shaderUniform*ArrayDynamicIndexing required").
#
# Does nothing when a working Vulkan ICD of a recent enough Mesa (or any non-Mesa driver) is already present.
# The backports mirror is derived from the machine's own apt sources: no registry host is written here.
set -euo pipefail

log() { echo "[setup-vulkan] $*"; }

have_recent_driver() {
  # A vendor driver (e.g. NVIDIA's) counts as present; Mesa's needs version >= 23.
  if ls /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null | grep -qi nvidia; then return 0; fi
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] || return 1
  dpkg --compare-versions "$v" ge 23 && dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q "install ok installed"
}

if have_recent_driver; then
  log "Vulkan driver present ($(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo vendor)); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no apt-get: install libvulkan1 and Mesa's Vulkan drivers (lavapipe, mesa >= 23) with your package manager"
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = "bookworm" ]; then
  # Find the Debian mirror the machine already uses (deb822 .sources files or one-line .list files).
  mirror=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | awk '{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' | head -n1 || true)
  fi
  if [ -z "$mirror" ]; then
    log "could not find a Debian mirror in /etc/apt/sources.list*; add bookworm-backports yourself"
    exit 1
  fi
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports from $mirror"
    echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/nasgraph-backports.list >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
fi
log "installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
