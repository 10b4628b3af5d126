#!/usr/bin/env bash
# Throughput and latency of POST /v2/models/mlp/infer (one row per request) at concurrency 1, 8 and 64
# with MAX_BATCH_SIZE 1, 8 and 32, interleaved rounds in one run. Writes bench/results/batching.md.
# Usage: bench/batching.sh [seconds per cell] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECS=${1:-5}; ROUNDS=${2:-2}; DELAY_MS=${DELAY_MS:-2}; WORKERS=${WORKERS:-2}
swift build -c release --product pd-inference >/dev/null
work=$(mktemp -d)
trap 'kill $PD_PID 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_body.py 1 784 >"$work/body.json"
export BODY_FILE="$work/body.json"
declare -A rps_sum
# Rows and batches executed so far for mlp, from the server's own histogram.
batch_totals() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk '
    /^pd_inference_batch_size_sum\{.*model="mlp"/ { rows += $NF }
    /^pd_inference_batch_size_count\{.*model="mlp"/ { batches += $NF }
    /^pd_inference_compute_duration_seconds_sum\{.*model="mlp"/ { compute += $NF }
    END { printf "%d %d %.6f\n", rows, batches, compute }'
}
out=bench/results/batching.md
mkdir -p bench/results
{
  echo "# Dynamic batching on mlp (784-512-256-10), one row per request"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t2 for ${SECS}s per cell, $ROUNDS interleaved rounds, MAX_QUEUE_DELAY_MS=$DELAY_MS, WORKER_THREADS=$WORKERS, COMPUTE_THREADS=1."
  echo "Command: \`bench/batching.sh $SECS $ROUNDS\`. CPU µs/req is the server's CPU time over the cell divided by requests; rows per batch is the mean of \`pd_inference_batch_size\` over the cell; the p99 target is 2 × MAX_QUEUE_DELAY_MS plus the cell's mean batch compute time (\`pd_inference_compute_duration_seconds\`)."
  echo
  echo "| round | MAX_BATCH_SIZE | concurrency | req/s | p50 ms | p99 ms | p99 target ms | CPU µs/req | rows per batch | non-2xx |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$out"
for round in $(seq 1 "$ROUNDS"); do
  for mbs in 1 8 32; do
    PORT=$(free_port)
    HOST=127.0.0.1 PORT=$PORT MAX_BATCH_SIZE=$mbs MAX_QUEUE_DELAY_MS=$DELAY_MS WORKER_THREADS=$WORKERS MAX_QUEUE_SIZE=1024 \
      LOG_LEVEL=warning .build/release/pd-inference >"$work/pd.log" 2>&1 &
    PD_PID=$!
    wait_http "http://127.0.0.1:$PORT/readyz"
    for conc in 1 8 64; do
      read -r rows0 batches0 compute0 < <(batch_totals "$PORT")
      read -r rps cpu p50 p99 reqs errs < <(run_wrk "http://127.0.0.1:$PORT/v2/models/mlp/infer" "$conc" "$SECS" "$PD_PID" bench/infer.lua)
      read -r rows1 batches1 compute1 < <(batch_totals "$PORT")
      read -r per_batch bound < <(awk -v r=$((rows1 - rows0)) -v b=$((batches1 - batches0)) -v c0="$compute0" -v c1="$compute1" -v d="$DELAY_MS" \
        'BEGIN { printf "%.1f %.2f\n", (b > 0 ? r / b : 0), 2 * d + (b > 0 ? (c1 - c0) / b * 1000 : 0) }')
      echo "| $round | $mbs | $conc | $rps | $p50 | $p99 | $bound | $cpu | $per_batch | $errs |" >>"$out"
      key="$mbs-$conc"; rps_sum[$key]=$(( ${rps_sum[$key]:-0} + rps ))
    done
    kill -TERM $PD_PID; wait $PD_PID || true
  done
done
{
  echo
  for conc in 1 8 64; do
    for mbs in 8 32; do
      echo "- concurrency $conc: MAX_BATCH_SIZE=$mbs gives $(awk -v a="${rps_sum[$mbs-$conc]}" -v b="${rps_sum[1-$conc]}" 'BEGIN{printf "%.2f", a/b}')x the req/s of MAX_BATCH_SIZE=1"
    done
  done
} >>"$out"
cat "$out"
