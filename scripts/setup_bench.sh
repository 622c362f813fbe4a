#!/usr/bin/env bash
# Idempotent set-up of the benchmark's peers only (`make bench`; never part of `make test`): Debian's OpenCV
# 4.6 for the OpenCV-DNN reference (run with /usr/bin/python3) and .venv-bench (TensorFlow, PySpark, NNCF),
# kept apart from the test venv. Every version is pinned here or in scripts/requirements-bench.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"
OPENCV_DEB_VERSION="4.6.0+dfsg-12"

install_opencv() {
  local installed
  installed=$(dpkg-query -W -f='${Status} ${Version}' python3-opencv 2>/dev/null || true)
  [ "$installed" = "install ok installed $OPENCV_DEB_VERSION" ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "python3-opencv=$OPENCV_DEB_VERSION"
}

# Same interpreter as .venv (the one scripts/setup.sh created), so both venvs run one Python version.
install_venv() {
  local base
  base=$(sed -n 's/^executable = //p' "$ROOT/.venv/pyvenv.cfg" 2>/dev/null || true)
  ensure_venv "$ROOT/.venv-bench" "$ROOT/scripts/requirements-bench.txt" "${base:-python3}"
}

install_opencv
install_venv
