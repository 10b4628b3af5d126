#!/usr/bin/env bash
# Runs every libFuzzer target for 60 s (about 5 minutes of fuzzing plus the sanitizer builds).
# FUZZ_SECONDS overrides the time per target.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
