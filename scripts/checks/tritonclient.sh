#!/usr/bin/env bash
# The real tritonclient[http] client against a running server: health, metadata, JSON and binary infer.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc
log=$(mktemp)
start_server "$log" SHUTDOWN_DRAIN_SECONDS=0
trap 'stop_server; rm -f "$log"' EXIT
.venv/bin/python tools/checks/tritonclient_check.py --url "127.0.0.1:$PORT"
