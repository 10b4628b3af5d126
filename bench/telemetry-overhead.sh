#!/usr/bin/env bash
# Cost of telemetry on the infer path at concurrency 64: TELEMETRY_ENABLED=false against metrics+logs
# (tracing off) and against tracing at 100% sampling exported over OTLP/HTTP to a local sink.
# Interleaved rounds in one run. Writes bench/results/telemetry-overhead.md.
# Usage: bench/telemetry-overhead.sh [seconds per cell] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECS=${1:-8}; ROUNDS=${2:-3}; CONNS=64
swift build -c release --product pd-inference >/dev/null
work=$(mktemp -d)
trap 'kill $PD_PID $SINK_PID 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_body.py 1 784 >"$work/body.json"
export BODY_FILE="$work/body.json"
SINK_PORT=$(free_port)
python3 tools/otlp_sink.py --port "$SINK_PORT" --quiet &
SINK_PID=$!
declare -A sum cpu_sum
modes=(off metrics tracing)
out=bench/results/telemetry-overhead.md
mkdir -p bench/results
{
  echo "# Telemetry overhead on POST /v2/models/mlp/infer, concurrency $CONNS"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS interleaved rounds. Command: \`bench/telemetry-overhead.sh $SECS $ROUNDS\`."
  echo "off: TELEMETRY_ENABLED=false. metrics: metrics, access logs (to /dev/null), tracing disabled. tracing: everything on, OTEL_TRACES_SAMPLER=always_on, OTLP/HTTP JSON to a local sink."
  echo
  echo "| round | mode | req/s | p50 ms | p99 ms | CPU µs/req |"
  echo "|---|---|---|---|---|---|"
} >"$out"
for round in $(seq 1 "$ROUNDS"); do
  for mode in "${modes[@]}"; do
    PORT=$(free_port)
    case $mode in
      off) extra=(TELEMETRY_ENABLED=false) ;;
      metrics) extra=(TELEMETRY_ENABLED=true OTEL_SDK_DISABLED=true) ;;
      tracing) extra=(TELEMETRY_ENABLED=true OTEL_TRACES_SAMPLER=always_on OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT") ;;
    esac
    env HOST=127.0.0.1 PORT=$PORT MAX_QUEUE_SIZE=1024 "${extra[@]}" .build/release/pd-inference >/dev/null 2>&1 &
    PD_PID=$!
    wait_http "http://127.0.0.1:$PORT/readyz"
    read -r rps cpu p50 p99 reqs errs < <(run_wrk "http://127.0.0.1:$PORT/v2/models/mlp/infer" $CONNS "$SECS" "$PD_PID" bench/infer.lua)
    echo "| $round | $mode | $rps | $p50 | $p99 | $cpu |" >>"$out"
    sum[$mode]=$(( ${sum[$mode]:-0} + rps ))
    cpu_sum[$mode]=$(awk -v a="${cpu_sum[$mode]:-0}" -v b="$cpu" 'BEGIN{print a+b}')
    kill -TERM $PD_PID; wait $PD_PID || true
  done
done
{
  echo
  for mode in metrics tracing; do
    echo "- $mode: $(awk -v a="${sum[$mode]}" -v b="${sum[off]}" 'BEGIN{printf "%.1f%%", (1 - a/b) * 100}') fewer req/s than off; CPU per request $(awk -v a="${cpu_sum[$mode]}" -v b="${cpu_sum[off]}" 'BEGIN{printf "%+.1f%%", (a/b - 1) * 100}')"
  done
} >>"$out"
cat "$out"
