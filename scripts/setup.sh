#!/usr/bin/env bash
# Idempotent set-up: system packages, the Python environment (OpenVINO + Arrow wheels), then the build.
# Every version is pinned here; re-running does only what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/versions.sh"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libjpeg62-turbo-dev libpng-dev libwebp-dev
  libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev libstb-dev libssl-dev
)

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_python() {
  local venv="$ROOT/.venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local stamp="$venv/.orchard-requirements.sha256"
  local want
  want=$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install -q --upgrade pip==26.3
    "$venv/bin/pip" install -q -r "$ROOT/scripts/requirements.txt"
    "$venv/bin/python" -c "import pyarrow; pyarrow.create_library_symlinks()"
    echo "$want" > "$stamp"
  fi
}

build() {
  local build_dir="$ROOT/build"
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S "$ROOT" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPython3_EXECUTABLE="$ROOT/.venv/bin/python"
  fi
  cmake --build "$build_dir" -j "$(nproc)"
}

install_apt
install_python
build
