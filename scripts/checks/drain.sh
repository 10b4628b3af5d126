#!/usr/bin/env bash
# The drain sequence on a real server process: SIGTERM with a request in flight; readiness turns 503
# at once while the listener still serves, the in-flight request completes 200, and the process exits 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc
log=$(mktemp)
# The queue delay holds the request in flight long enough to signal while it waits.
start_server "$log" MAX_QUEUE_DELAY_MS=1500 SHUTDOWN_DRAIN_SECONDS=1 SHUTDOWN_TIMEOUT_SECONDS=10
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -f "$log"' EXIT
.venv/bin/python tools/checks/drain_check.py --port "$PORT" --pid "$SERVER_PID"
set +e
wait "$SERVER_PID"
status=$?
set -e
if [ $status -ne 0 ]; then echo "FAIL: server exited $status"; tail -20 "$log"; exit 1; fi
echo "ok: server exited 0"
grep -q '"msg":"draining"' "$log" && grep -q '"msg":"stopped"' "$log" || { echo "FAIL: drain log lines missing"; tail -20 "$log"; exit 1; }
echo "drain check passed"
