#!/usr/bin/env bash
# Telemetry of the real server process, checked with outside tools (loopback only, every wait bounded):
#   telemetry_metrics.py        after 200/400/404/405/422/503/504 traffic: counters equal what the client
#                               saw; `promtool check metrics` (parse + lint) clean on the 0.0.4 text;
#                               prometheus_client's OpenMetrics parser accepts the OpenMetrics output
#                               with trace exemplars; gzip decodes to the same families
#   telemetry_traces.py         a few hundred requests from concurrent clients, each with its own
#                               traceparent, into an OTLP/HTTP receiver decoding with opentelemetry-proto:
#                               every request's server -> inference.queue -> inference.execute spans,
#                               batch spans linked both ways, resource attributes, exporter headers; an
#                               OpenTelemetry SDK client's trace id in the response and the access log;
#                               every log line JSON; once with the default http/protobuf encoding,
#                               once with http/json
#   telemetry_exporter_down.py  collector refusing connections, then hanging: requests keep their speed,
#                               pd_trace_spans_dropped_total increases
# About 10 s on 2 cores with the release build, 20 s with the debug build. PD_BIN overrides the
# server binary (lib.sh.inc).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc
[ -x "$BIN" ] || { echo "FAIL: $BIN is not built"; exit 1; }

ensure_prometheus

scripts/setup-python

failed=()
run_check() {  # run_check NAME [ARGS...]
  local name=$1
  shift
  echo "-- telemetry_$name $*"
  local start=$SECONDS
  .venv/bin/python "tools/checks/telemetry_$name.py" --bin "$BIN" "$@" || failed+=("telemetry_$name $*")
  echo "-- telemetry_$name took $((SECONDS - start)) s"
}
run_check metrics
run_check traces                                        # http/protobuf, the default
run_check traces --protocol http/json --requests 200
run_check exporter_down
if [ ${#failed[@]} -gt 0 ]; then echo "FAIL: ${failed[*]}"; exit 1; fi
