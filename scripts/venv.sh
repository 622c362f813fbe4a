# shellcheck shell=bash
# Sourced by scripts/setup.sh and scripts/setup_bench.sh.
# ensure_venv VENV REQUIREMENTS [BASE_PYTHON]: creates VENV with BASE_PYTHON (default python3) when it is
# missing, and installs REQUIREMENTS (pinned) when they changed since the last install (a sha256 stamp in VENV).
ensure_venv() {
  local venv=$1 requirements=$2 base=${3:-python3}
  [ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
  local stamp="$venv/.orchard-requirements.sha256"
  local want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  "$venv/bin/pip" install -q --upgrade pip==26.3
  "$venv/bin/pip" install -q -r "$requirements"
  echo "$want" > "$stamp"
}
