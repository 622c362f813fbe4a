#!/usr/bin/env bash
# EMR bootstrap action: installs the orchard wheel into the venv /opt/orchard/.venv on every node (primary, core,
# task), before YARN starts.
#   bootstrap.sh WHEEL_S3_URI SHA256   (cluster/bootstrap-actions.json passes them)
# The wheel is what deploy/emr/package.sh built on Amazon Linux 2023 (the OS of EMR 7 nodes); it is checked
# against SHA256 before pip sees it. pip installs its pinned dependencies (openvino, pyarrow, numpy) from PyPI;
# not pyspark: spark-submit puts the cluster's own on the path. Idempotent: a node that has this exact wheel
# installed skips it. Not run on AWS here (no AWS account): tests/python/test_spark_cluster.py runs it against a
# local S3 server with ORCHARD_PREFIX set, stand-ins for sudo, dnf and aws, and pip offline (PIP_NO_INDEX,
# PIP_FIND_LINKS); see deploy/emr/README.md.
set -euo pipefail

PREFIX=${ORCHARD_PREFIX:-/opt/orchard}
VENV=$PREFIX/.venv
# The wheel is built for this interpreter (cp311); EMR 7's own python3 is 3.9, older than orchard supports.
PYTHON=python3.11
INSTALLED_MARKER=$PREFIX/.installed-sha256
# PySpark's Arrow path (mapInArrow) imports pandas in every Python worker; the wheel does not depend on it.
PANDAS=pandas==3.1.1

usage() {
  echo "usage: bootstrap.sh WHEEL_S3_URI SHA256" >&2
  exit 2
}

# The interpreter, and the shared libraries the wheel links from the system rather than bundling them.
install_system_packages() {
  sudo dnf install -y -q "$PYTHON" "$PYTHON-pip" libjpeg-turbo libpng libwebp openssl-libs lapack openblas
}

# Keeps the wheel's file name: pip reads the package, version and platform from it.
download_verified() {
  local uri=$1 sha256=$2 folder=$3
  local wheel
  wheel="$folder/$(basename "$uri")"
  aws s3 cp --only-show-errors "$uri" "$wheel"
  if ! echo "$sha256  $wheel" | sha256sum --check --status; then
    echo "bootstrap: $uri does not have sha256 $sha256" >&2
    return 1
  fi
  echo "$wheel"
}

# --clear: a node that had another wheel (or a failed attempt) gets a fresh environment, not a mix.
install_wheel() {
  local wheel=$1
  sudo mkdir -p "$PREFIX"
  sudo "$PYTHON" -m venv --clear "$VENV"
  sudo "$VENV/bin/pip" install -q --no-cache-dir "$wheel" "$PANDAS"
}

# -I: from the venv's site-packages only, never a PYTHONPATH or the current folder.
check_import() {
  "$VENV/bin/python" -I -c "import orchard, orchard.spark; print('orchard', orchard.__version__, orchard.__file__)"
}

main() {
  [ $# -eq 2 ] || usage
  local uri=$1 sha256=$2
  if [ "$(cat "$INSTALLED_MARKER" 2>/dev/null)" = "$sha256" ]; then
    return 0
  fi
  install_system_packages
  local folder wheel
  folder=$(mktemp -d)
  wheel=$(download_verified "$uri" "$sha256" "$folder")
  install_wheel "$wheel"
  rm -rf "$folder"
  check_import
  echo "$sha256" | sudo tee "$INSTALLED_MARKER" >/dev/null
}

main "$@"
