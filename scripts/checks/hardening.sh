#!/usr/bin/env bash
# Hardening checks against the real server process (stdlib Python, loopback only, every wait bounded):
#   hardening_matrix.py    bad-input matrix: documented status and JSON error for each, server stays up
#   hardening_drain.py     zero-loss drain under steady load, and with batches running and queued
#   hardening_overload.py  10x capacity for 30 s: bounded memory, only 200/503/504, normal service after
#   hardening_tls.py       HTTPS (TLS 1.2+), SIGHUP reload, bad files, secrets never in the logs
# About 1.5 minutes on 2 cores with the debug build. The fuzzers run from scripts/checks/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc
[ -x "$BIN" ] || { echo "FAIL: $BIN is not built"; exit 1; }
for check in matrix drain overload tls; do
  echo "-- hardening_$check"
  start=$SECONDS
  python3 "tools/checks/hardening_$check.py" --bin "$BIN"
  echo "-- hardening_$check took $((SECONDS - start)) s"
done
