#!/usr/bin/env bash
# How bench/e2e.sh's server settings were chosen: mlp at concurrency 1, 8, 64 and 256 for each reasonable
# layout of the FastAPI peer on 2 CPUs and each batching setting of pd-inference, interleaved rounds.
# Prints a Markdown table (medians are left to the reader: the rounds are adjacent rows).
# Usage: bench/e2e/configs.sh [peer|pd|all, default all] [seconds per cell, default 4] [rounds, default 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
source bench/e2e/lib.sh
WHICH=${1:-all}; SECS=${2:-4}; ROUNDS=${3:-2}
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 60 ] || { echo "seconds must be 1..60" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "rounds must be 1..10" >&2; exit 2; }
ensure_wrk
ensure_peer_venv
work=$(mktemp -d)
PID=
trap 'stop_tree "$PID"; rm -rf "$work"' EXIT
python3 bench/make_body.py 1 784 >"$work/mlp.json"
configs=()
if [ "$WHICH" = peer ] || [ "$WHICH" = all ]; then
  # peer WORKERS ORT_INTRA_OP_THREADS PEER_OFFLOAD
  configs+=("peer 2 1 inline" "peer 2 1 threadpool" "peer 1 2 inline" "peer 1 2 threadpool" "peer 4 1 inline")
fi
if [ "$WHICH" = pd ] || [ "$WHICH" = all ]; then
  swift build -c release --product pd-inference >/dev/null
  cp .build/release/pd-inference "$work/pd-inference"
  # pd MAX_QUEUE_DELAY_MS MAX_BATCH_SIZE
  configs+=("pd 2 8" "pd 0 8" "pd 0 32" "pd 1 8")
fi
[ ${#configs[@]} -gt 0 ] || { echo "which must be peer, pd or all" >&2; exit 2; }
echo "| round | server | settings | concurrency | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | other CPU % |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for config in "${configs[@]}"; do
    read -r server a b c <<<"$config"
    port=$(free_port)
    if [ "$server" = peer ]; then
      start_peer "$port" "$a" "$b" "$c" "$work/server.log"; PID=$PEER_PID
      settings="--workers $a, ORT_INTRA_OP_THREADS=$b, PEER_OFFLOAD=$c"
    else
      HOST=127.0.0.1 PORT=$port MODEL_REPOSITORY=models MAX_QUEUE_DELAY_MS=$a MAX_BATCH_SIZE=$b WORKER_THREADS=2 \
        COMPUTE_THREADS=1 HTTP_THREADS=2 MAX_QUEUE_SIZE=1024 LOG_LEVEL=warning "$work/pd-inference" >"$work/server.log" 2>&1 &
      PID=$!
      settings="MAX_QUEUE_DELAY_MS=$a, MAX_BATCH_SIZE=$b"
    fi
    wait_http "http://127.0.0.1:$port/v2/health/ready"
    BODY_FILE="$work/mlp.json" wrk -t2 -c8 -d2s -s bench/e2e/infer.lua "http://127.0.0.1:$port/v2/models/mlp/infer" >/dev/null
    for conc in 1 8 64 256; do
      read -r rps p50 p90 p99 max errs reqs cpu hwm rss pss wrkcpu other < <(wrk_cell "http://127.0.0.1:$port/v2/models/mlp/infer" "$conc" "$SECS" "$PID" "$work/mlp.json")
      echo "| $round | $server | $settings | $conc | $rps | $p50 | $p99 | $cpu | $hwm | $other |"
    done
    stop_tree "$PID"; PID=
  done
done
