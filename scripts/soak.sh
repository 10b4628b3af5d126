#!/usr/bin/env bash
# Soak test (not part of CI): the release build under steady load at half its measured capacity.
#
#   scripts/soak.sh [minutes]        (default 10)
#
# Passes when every request succeeds, resident memory grows less than 5% from the warmed-up level
# to the end, open file descriptors stay stable and nothing is logged at warning or above. Prints
# a Markdown-ready summary and writes the numbers to bench/out/soak.json; record a run in
# bench/results/soak.md. PD_BIN selects another binary; MODEL (mlp) another bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
BIN=${PD_BIN:-.build/release/pd-inference}
if [ -z "${PD_BIN:-}" ]; then
  swift build -c release --product pd-inference
fi
[ -x "$BIN" ] || { echo "FAIL: $BIN is not built"; exit 1; }
mkdir -p bench/out
echo "== soak: $BIN, $MINUTES min, model ${MODEL:-mlp}, $(nproc) CPUs, $(uname -m)"
python3 tools/checks/hardening_soak.py --bin "$BIN" --minutes "$MINUTES" --model "${MODEL:-mlp}" \
  --report bench/out/soak.json
