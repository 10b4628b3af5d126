#!/usr/bin/env bash
# Live check of the dashboards and rules: the built server (small queue, one worker, so that
# rejections can be provoked) scraped every second by a real Prometheus that evaluates
# alerts/pd-inference-rules.yaml every second; tools/checks/live_prometheus_check.py drives
# load and asserts that every dashboard query and every rule returns data.
# Everything listens on loopback and is stopped on exit. PD_BIN overrides the server binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc

ensure_prometheus

work=$(mktemp -d)
PROM_PID=""
SERVER_PID=""
cleanup() {
  status=$?
  if [ -n "$PROM_PID" ]; then kill -TERM "$PROM_PID" 2>/dev/null || true; wait "$PROM_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ]; then stop_server; fi
  if [ $status -ne 0 ]; then
    echo "--- server log (last 30 lines)"; tail -n 30 "$work/server.log" 2>/dev/null || true
    echo "--- prometheus log (last 30 lines)"; tail -n 30 "$work/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

# Nothing listens on this port: span exports fail, so the dropped-span counter moves.
otlp_port=$(free_port)
start_server "$work/server.log" \
  SHUTDOWN_DRAIN_SECONDS=0 MAX_QUEUE_SIZE=4 WORKER_THREADS=1 MAX_BATCH_SIZE=8 MAX_QUEUE_DELAY_MS=2 \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" LOG_LEVEL=warning

prom_port=$(free_port)
cat >"$work/prometheus.yml" <<CONFIG
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/alerts/pd-inference-rules.yaml
scrape_configs:
  - job_name: pd-inference
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
CONFIG
promtool check config "$work/prometheus.yml" >/dev/null

prometheus \
  --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" \
  --enable-feature=exemplar-storage \
  --log.level=warn >"$work/prometheus.log" 2>&1 &
PROM_PID=$!

# LIVE_VERBOSE=1 prints every expression with a sample; LIVE_LOAD_SECONDS sets the load's length.
python3 tools/checks/live_prometheus_check.py \
  --prometheus "http://127.0.0.1:$prom_port" \
  --service "http://127.0.0.1:$PORT" \
  --job pd-inference --model mlp --load-seconds "${LIVE_LOAD_SECONDS:-25}" \
  ${LIVE_VERBOSE:+--verbose}
