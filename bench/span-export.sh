#!/usr/bin/env bash
# What exporting spans costs the server per export request, by batch size: the span export thread's
# own CPU time (pd-span-export, from its schedstat) over the export requests it made, under infer
# load at 100% sampling, exporting over OTLP/HTTP to a loopback sink (bench/lib.sh start_otlp_sink).
# Each round runs every batch size in turn (the order alternates), each a fresh server alone on the
# last CPU with the load (wrk -c64) and the sink on the others. The queue is 4 batches
# (OTEL_BSP_MAX_QUEUE_SIZE), as in the defaults. A straight line through the medians splits the cost
# into a part per export request and a part per span.
# Writes bench/results/span-export.md.
#
# Usage: bench/span-export.sh [seconds per run] [rounds]
#   SIZES="512 2048"  batch sizes (OTEL_BSP_MAX_EXPORT_BATCH_SIZE) to compare
#   BIN=path          pd-inference binary (default: release build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECS=${1:-5}
ROUNDS=${2:-6}
read -r -a SIZES <<<"${SIZES:-512 2048}"
cpus=$(nproc)
[ "$cpus" -ge 2 ] || { echo "needs 2 CPUs (the server on one, the load on the others)" >&2; exit 2; }
SERVER_CPU=$((cpus - 1))
taskset -pc "0-$((cpus - 2))" $$ >/dev/null
command -v nginx >/dev/null || { echo "the OTLP sink is nginx: apt-get install -y nginx" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
  swift build -c release --product pd-inference >/dev/null
  BIN=$(swift build -c release --show-bin-path)/pd-inference
fi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_body.py 1 784 >"$work/body.json"
export BODY_FILE="$work/body.json"
read -r sink_pid sink_port < <(start_otlp_sink "$work")
pids+=("$sink_pid")
wait_otlp_sink "$sink_port"

export_thread_ns() {  # the CPU time of the server's span export thread so far
  local task
  for task in /proc/"$1"/task/*; do
    if [ "$(cat "$task/comm")" = pd-span-export ]; then awk '{ print $1 }' "$task/schedstat"; return; fi
  done
  echo "no pd-span-export thread in process $1" >&2
  return 1
}

run() {  # run ROUND SIZE: one server exporting batches of SIZE spans under load
  local round=$1 size=$2 port pid
  port=$(free_port)
  env HOST=127.0.0.1 PORT="$port" MAX_QUEUE_SIZE=1024 LOG_LEVEL=info SHUTDOWN_DRAIN_SECONDS=0 \
    OTEL_TRACES_SAMPLER=always_on OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" \
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE="$size" OTEL_BSP_MAX_QUEUE_SIZE=$((4 * size)) \
    taskset -c "$SERVER_CPU" "$BIN" >/dev/null 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/readyz"
  wrk -t1 -c64 -d1s -s bench/infer.lua "http://127.0.0.1:$port/v2/models/mlp/infer" >/dev/null  # warm-up
  local spans0 thread0 all0 out spans1 thread1 all1 requests
  spans0=$(trace_spans "$port" exported); thread0=$(export_thread_ns "$pid"); all0=$(thread_cpu_ns "$pid")
  out=$(wrk -t1 -c64 -d"${SECS}s" -s bench/infer.lua "http://127.0.0.1:$port/v2/models/mlp/infer")
  thread1=$(export_thread_ns "$pid"); all1=$(thread_cpu_ns "$pid")
  sleep 0.2  # the last full batch's export finishes
  spans1=$(trace_spans "$port" exported)
  requests=$(awk '/ requests in / { print $1 }' <<<"$out")
  echo "$round $size $requests $((spans1 - spans0)) $((thread1 - thread0)) $((all1 - all0))" >>"$work/rows"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq 1 "$ROUNDS"); do
  order=("${SIZES[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#SIZES[@]} - 1; i >= 0; i--)); do order+=("${SIZES[i]}"); done
  fi
  for size in "${order[@]}"; do run "$round" "$size"; done
done

mkdir -p bench/results
python3 - "$work/rows" "$SECS" "$ROUNDS" "$SERVER_CPU" >bench/results/span-export.md <<'PY'
import sys, statistics, datetime, os, subprocess
rows, secs, rounds, server_cpu = sys.argv[1:5]
secs = float(secs)
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
load = " ".join(open("/proc/loadavg").read().split()[:3])
print("# Span export cost by batch size")
print()
print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ}, revision {rev}, {os.cpu_count()} CPUs, "
      f"load average {load}. Command: `bench/span-export.sh {secs:g} {rounds}`.")
print()
print(f"One server at a time on CPU {server_cpu}, 100% sampling (OTEL_TRACES_SAMPLER=always_on), under "
      f"`wrk -t1 -c64 -d{secs:g}s` on POST /v2/models/mlp/infer from the other CPUs, exporting OTLP/HTTP protobuf to an "
      "nginx sink on loopback (on the load's CPUs). The queue holds 4 batches. Export requests are the spans exported "
      "over the batch size (under load every export is a full batch). The export thread's CPU is its own schedstat "
      "time: framing, sending and reading each request, including the kernel's loopback work done in its sends.")
print()
print("| round | batch size | req/s | spans/s | export requests/s | export thread µs per request | export thread ns per span | export thread share of server CPU | server CPU µs per infer request |")
print("|---|---|---|---|---|---|---|---|---|")
by = {}
for line in open(rows):
    rnd, size, reqs, spans, thread_ns, all_ns = line.split()
    size, reqs, spans, thread_ns, all_ns = int(size), int(reqs), int(spans), int(thread_ns), int(all_ns)
    exports = spans / size
    per_export = thread_ns / 1000 / max(exports, 1)
    per_span = thread_ns / max(spans, 1)
    share = thread_ns / max(all_ns, 1)
    per_req = all_ns / 1000 / max(reqs, 1)
    by.setdefault(size, []).append((reqs / secs, spans / secs, exports / secs, per_export, per_span, share, per_req))
    print(f"| {rnd} | {size} | {reqs / secs:.0f} | {spans / secs:.0f} | {exports / secs:.1f} | {per_export:.1f} | "
          f"{per_span:.0f} | {100 * share:.2f}% | {per_req:.2f} |")
print()
print("Medians:")
print()
print("| batch size | req/s | export requests/s | export thread µs per request | export thread ns per span | export thread share of server CPU | server CPU µs per infer request |")
print("|---|---|---|---|---|---|---|")
med = {}
for size in sorted(by):
    cols = list(zip(*by[size]))
    m = [statistics.median(c) for c in cols]
    med[size] = m
    print(f"| {size} | {m[0]:.0f} | {m[2]:.1f} | {m[3]:.1f} | {m[4]:.0f} | {100 * m[5]:.2f}% | {m[6]:.2f} |")
sizes = sorted(med)
if len(sizes) >= 2:
    a, b = sizes[0], sizes[-1]
    per_span = (med[b][3] - med[a][3]) / (b - a)  # µs per span
    fixed = med[a][3] - per_span * a
    print()
    print(f"A line through the medians at {a} and {b} spans: about {fixed:.0f} µs per export request plus "
          f"{1000 * per_span:.0f} ns per span. At {a} spans per request the part per request is "
          f"{100 * fixed / med[a][3]:.0f}% of the export thread's time; at {b}, {100 * fixed / med[b][3]:.0f}%.")
PY
cat bench/results/span-export.md
