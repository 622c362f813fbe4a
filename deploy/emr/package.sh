#!/usr/bin/env bash
# Builds the orchard wheel for EMR 7 nodes and uploads it, with its sha256, to the artifacts location of
# deploy/emr/settings.json, for deploy/emr/bootstrap.sh:
#   deploy/emr/package.sh
# Run it in a checkout on Amazon Linux 2023 x86_64, the OS and CPU of EMR 7 nodes (cluster/instance-fleets.json):
# the wheel links the system's libjpeg, libpng, libwebp, libcrypto, LAPACKE and OpenBLAS, so it only loads where it was built (it is
# not a manylinux wheel). Prints the wheel's URI and sha256, the bootstrap action's two arguments.
# Never run here (no Amazon Linux, no AWS account): see deploy/emr/README.md, "Building the wheel".
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# The nodes' interpreter (bootstrap.sh uses the same): the wheel is tagged cp311.
PYTHON=python3.11
# Fedora's package names, which AL2023 derives from. CMake >= 3.25 and Ninja: when the system's are older or
# missing, scikit-build-core adds them from PyPI to the isolated build. Possibly not packaged in AL2023 (not
# checked from here): stb_image_resize.h, which the wheel compiles (deploy/emr/README.md: how to provide it).
BUILD_PACKAGES=(gcc-c++ make pkgconf-pkg-config cmake ninja-build "$PYTHON" "$PYTHON-devel" "$PYTHON-pip"
  libjpeg-turbo-devel libpng-devel libwebp-devel openssl-devel eigen3-devel json-devel lapack-devel openblas-devel)

usage() {
  echo "usage: package.sh   (on Amazon Linux 2023 x86_64; uploads to settings.json's artifacts location)" >&2
  exit 2
}

require_amazon_linux_2023() {
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${ID:-}" != amzn ] || [ "${VERSION_ID:-}" != 2023 ] || [ "$(uname -m)" != x86_64 ]; then
    echo "package: build on Amazon Linux 2023 x86_64 (this is ${PRETTY_NAME:-unknown} $(uname -m)): the wheel" \
      "links the system's image libraries, which must be the nodes'" >&2
    exit 1
  fi
}

artifacts_location() {
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["artifacts"])' "$HERE/settings.json"
}

# Isolated build: pip fetches the pinned build requirements of pyproject.toml (scikit-build-core, nanobind,
# pyarrow, openvino) from PyPI; --no-deps: the runtime dependencies are installed by bootstrap.sh, not bundled.
build_wheel() {
  local dist=$1
  "$PYTHON" -m pip wheel --no-deps -w "$dist" "$ROOT" >&2
  local wheels=("$dist"/orchard-*.whl)
  if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
    echo "package: expected one wheel in $dist" >&2
    exit 1
  fi
  echo "${wheels[0]}"
}

upload() {
  local wheel=$1 sha256=$2 uri=$3
  aws s3 cp --only-show-errors "$wheel" "$uri"
  echo "$sha256  $(basename "$wheel")" | aws s3 cp --only-show-errors - "$uri.sha256"
}

main() {
  [ $# -eq 0 ] || usage
  require_amazon_linux_2023
  sudo dnf install -y -q "${BUILD_PACKAGES[@]}"
  local dist wheel sha256 uri
  dist=$(mktemp -d)
  wheel=$(build_wheel "$dist")
  sha256=$(sha256sum "$wheel" | cut -d' ' -f1)
  uri="$(artifacts_location)$(basename "$wheel")"
  upload "$wheel" "$sha256" "$uri"
  rm -rf "$dist"
  echo "$uri"
  echo "$sha256"
}

main "$@"
