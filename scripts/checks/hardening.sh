#!/usr/bin/env bash
# Hardening checks against the real server process (stdlib Python, loopback only, every wait bounded):
#   hardening_matrix.py    bad-input matrix: documented status and JSON error for each, server stays up
#   hardening_drain.py     zero-loss drain under steady load, and with batches running and queued
#   hardening_overload.py  5x capacity for 10 s, then 10x for 30 s: bounded memory, only 200/503/504,
#                          no computed request waited past its deadline, normal service right after
#   hardening_tls.py       HTTPS (TLS 1.2+), SIGHUP reload, bad files, secrets never in the logs
# About 2 minutes on 2 cores with the debug build. The fuzzers run from scripts/checks/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc
[ -x "$BIN" ] || { echo "FAIL: $BIN is not built"; exit 1; }
run() {
  echo "-- $*"
  start=$SECONDS
  python3 "tools/checks/hardening_$1.py" --bin "$BIN" "${@:2}"
  echo "-- hardening_$1 took $((SECONDS - start)) s"
}
run matrix
run drain
run overload --factor 5 --seconds 10
run overload
run tls
