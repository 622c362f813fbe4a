#!/usr/bin/env bash
# Every test: C++ unit tests through ctest, a short bounded fuzzing run, then the Python end-to-end and reference
# tests (pytest last, so its summary closes the output).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
.venv/bin/python scripts/make_resnet50.py --output models-generated/resnet50-notop.onnx
# The model-compatibility suite's frameworks (.venv-compat, pinned) and models (models-generated/compat/).
bash scripts/setup_compat.sh
ctest --test-dir build --output-on-failure -j 2
# The model library and its tests again under ASan + UBSan: no read outside a tensor's bounds, no leak.
bash scripts/asan.sh
# Decode + preprocess under libFuzzer with ASan and UBSan; `scripts/fuzz.sh 3600` for a long run.
bash scripts/fuzz.sh 30
.venv/bin/python -m pytest tests/python -q
