#!/usr/bin/env bash
# Builds the decode + preprocess libFuzzer target (clang, ASan, UBSan) and fuzzes it for N seconds (default 60).
# Fails on any crash, sanitizer report, leak or timeout; the input that caused it is kept in build-fuzz/artifacts/
# and replays with `build-fuzz/decode_preprocess_fuzzer FILE`. The corpus grown by earlier runs is reused.
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer options, e.g. -jobs=2 -workers=2]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
shift || true
BUILD="$ROOT/build-fuzz"
CXX_COMPILER="${FUZZ_CXX:-clang++-14}"

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT/fuzz" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_COMPILER"
fi
cmake --build "$BUILD"

# Seeds: a few Fruits-360 photos and every small file of the bad-input corpus. Files over 64 KiB are left out:
# libFuzzer's default -max_len follows the largest seed, and big inputs only slow each execution down.
SEEDS="$BUILD/seeds"
if [ ! -d "$SEEDS" ]; then
  rm -rf "$BUILD/bad-inputs" "$SEEDS.tmp"
  mkdir -p "$SEEDS.tmp"
  "$ROOT/.venv/bin/python" "$ROOT/scripts/make_bad_inputs.py" --output "$BUILD/bad-inputs" \
    --sidecar "$BUILD/bad-inputs.json" >/dev/null
  SAMPLE="${ORCHARD_SHARED:-$ROOT/../shared}/data/fruits-360-sample/Test"
  find "$SAMPLE" -name '*.jpg' | sort | awk 'NR % 1000 == 1' | head -n 5 | while read -r f; do
    cp "$f" "$SEEDS.tmp/sample-$(basename "$f")"
  done
  i=0
  find "$BUILD/bad-inputs" -type f -size -64k -print0 | sort -z | while IFS= read -r -d '' f; do
    i=$((i + 1))
    cp "$f" "$SEEDS.tmp/bad-$i"
  done
  mv "$SEEDS.tmp" "$SEEDS"
fi

mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
cd "$BUILD"
./decode_preprocess_fuzzer corpus seeds -dict="$ROOT/fuzz/image.dict" -max_total_time="$SECONDS_TO_RUN" \
  -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=artifacts/ -print_final_stats=1 "$@"
