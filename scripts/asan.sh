#!/usr/bin/env bash
# The model library and its C++ tests (tests/cpp/model: contracts, every model format, graphs whose output batch
# is not the one asked for, ImageEmbedder's bytes -> rows path) built with AddressSanitizer + UndefinedBehavior-
# Sanitizer and run with halt_on_error: a read outside a tensor orchard owns, or one OpenVINO allocated, stops the
# run, and so does a leak (LeakSanitizer). Only that one test binary is built, in build-asan/ (incremental).
# Needs models-generated/resnet50-notop.onnx and the compatibility models (scripts/setup_compat.sh) first.
#   scripts/asan.sh [GoogleTest options, e.g. --gtest_filter='FixedBatch*']
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-asan"
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  # -O1 -g, as ASan's documentation advises: readable stacks, still fast enough. No CLI, no Python binding.
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_CXX_FLAGS="$SANITIZE" -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE" -DORCHARD_CLI=OFF -DORCHARD_PYTHON=OFF \
    -DPython3_EXECUTABLE="$ROOT/.venv/bin/python" "${launcher[@]}"
fi
cmake --build "$BUILD" -j 2 --target orchard_model_tests

# OpenVINO's TBB opens its optional topology library (libtbbbind) with RTLD_DEEPBIND, which the ASan runtime
# refuses by killing the process (google/sanitizers#611); TBB_ENABLE_SANITIZERS is oneTBB's own switch to open it
# without that flag (TBB then still loads it, and still finds it next to libtbb).
export TBB_ENABLE_SANITIZERS=1
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
"$BUILD/tests/cpp/orchard_model_tests" "$@"
