#!/usr/bin/env bash
# Idempotent set-up of the model-compatibility suite (tests/python/test_model_compat.py): .venv-compat with the
# frameworks pinned in scripts/requirements-compat.txt (TensorFlow, tf2onnx, onnxruntime, LiteRT), kept apart
# from the test venv, then the suite's models in models-generated/compat/ (seeded random weights, nothing
# downloaded; remade only when scripts/make_compat_models.py or the requirements change).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"

# Same interpreter as .venv (the one scripts/setup.sh created), so both venvs run one Python version.
base=$(sed -n 's/^executable = //p' "$ROOT/.venv/pyvenv.cfg" 2>/dev/null || true)
ensure_venv "$ROOT/.venv-compat" "$ROOT/scripts/requirements-compat.txt" "${base:-python3}"
"$ROOT/.venv-compat/bin/python" "$ROOT/scripts/make_compat_models.py" --output "$ROOT/models-generated/compat"
