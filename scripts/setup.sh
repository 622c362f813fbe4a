#!/usr/bin/env bash
# Idempotent set-up: system packages, the Python environment (OpenVINO + Arrow wheels), then the build.
# Every version is pinned here; re-running does only what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/versions.sh"
# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libjpeg62-turbo-dev libpng-dev libwebp-dev
  libeigen3-dev liblapacke-dev libopenblas-dev nlohmann-json3-dev libcli11-dev libgtest-dev libstb-dev libssl-dev
  clang-14 libclang-rt-14-dev
  liblinear-dev libcpp-httplib-dev libfaiss-dev libutf8proc-dev chromium wrk
  openjdk-17-jre-headless
  shellcheck
  systemd
  strace
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
  ensure_venv "$ROOT/.venv" "$ROOT/scripts/requirements.txt"
  # The wheel ships libarrow.so.NNNN only; CMake's find_library wants libarrow.so (idempotent).
  "$ROOT/.venv/bin/python" -c "import pyarrow; pyarrow.create_library_symlinks()"
}

# versitygw, an S3 server on a local folder, for tests/python/test_s3.py and bench/s3_vs_disk.py. `go install`
# does not stamp `versitygw --version`, so the installed version is read from the module info in the binary.
install_versitygw() {
  local bin="$ROOT/.tools/bin/versitygw"
  if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+github.com/versity/versitygw\s+$VERSITYGW_VERSION\s"; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "setup: Go (>= 1.24) is needed to build versitygw, the S3 server of the tests" >&2
    return 1
  fi
  CGO_ENABLED=0 GOBIN="$ROOT/.tools/bin" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

# The plotting libraries `orchard eval` inlines into report.html (pinned in versions.sh), from npm into .tools/.
install_js() {
  local want="vega@$VEGA_VERSION vega-lite@$VEGA_LITE_VERSION vega-embed@$VEGA_EMBED_VERSION"
  local stamp="$ROOT/.tools/node_modules/.orchard-js-versions"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  if ! command -v npm >/dev/null; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  mkdir -p "$ROOT/.tools"
  # shellcheck disable=SC2086  # $want is a list of packages
  npm install --prefix "$ROOT/.tools" --no-save --no-audit --no-fund --loglevel=error $want
  echo "$want" > "$stamp"
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
install_js
install_versitygw
bash "$ROOT/scripts/fetch_spark_jars.sh"  # hadoop-aws + AWS SDK for Spark's s3a://
build
