#!/usr/bin/env bash
# Builds the release tarball cloud-init.yaml installs into /opt/orchard:
#   deploy/vm/package.sh OUT.tar.gz
# bin/orchard (this checkout's build), lib/ (the OpenVINO runtime with its plugins and frontends, and the Arrow
# libraries it links: orchard.service puts them on LD_LIBRARY_PATH), share/orchard.service and the README.
# Run it on the OS of the VM (Debian 12 x86_64): the binary links that system's libjpeg, libpng, libwebp,
# liblinear, cpp-httplib, LAPACKE and OpenBLAS, which cloud-init.yaml installs. Prints the tarball's sha256,
# which goes into cloud-init.yaml beside the URL it is published at.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

[ $# -eq 1 ] || { echo "usage: package.sh OUT.tar.gz" >&2; exit 2; }
OUT="$(realpath -m "$1")"
BINARY="$ROOT/build/orchard"
[ -x "$BINARY" ] || { echo "package: build orchard first ($BINARY is missing)" >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/share"
cp "$BINARY" "$STAGE/bin/orchard"
# The libraries that are not the system's: those ldd finds outside /lib and /usr/lib.
ldd "$BINARY" | awk '$3 ~ /^\// && $3 !~ /^\/(usr\/)?lib/ {print $3}' | while read -r library; do
  cp -L "$library" "$STAGE/lib/"
done
# OpenVINO loads its CPU plugin and model frontends from its own folder at run time: all of it.
OPENVINO_LIBS="$(dirname "$(ldd "$BINARY" | awk '/libopenvino\.so/ {print $3}')")"
cp -L "$OPENVINO_LIBS"/*.so* "$OPENVINO_LIBS"/*.xml "$STAGE/lib/" 2>/dev/null || cp -L "$OPENVINO_LIBS"/*.so* "$STAGE/lib/"
cp "$HERE/orchard.service" "$STAGE/share/orchard.service"
cp "$HERE/README.md" "$STAGE/share/README.md"
tar -czf "$OUT" -C "$STAGE" .
sha256sum "$OUT"
