#!/usr/bin/env bash
# Every test: C++ unit tests through ctest, then the Python end-to-end and reference tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
.venv/bin/python scripts/make_resnet50.py --output models-generated/resnet50-notop.onnx
ctest --test-dir build --output-on-failure -j 2
.venv/bin/python -m pytest tests/python -q
# A short bounded fuzzing run of decode + preprocess (clang, ASan, UBSan); `scripts/fuzz.sh 3600` for a long one.
bash scripts/fuzz.sh 30
