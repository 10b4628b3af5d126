#!/usr/bin/env bash
# Time to render /metrics (MetricsRegistry.render into a reused buffer, as MetricsEndpoint does) for
# 10,000 counter series, 10,000 histogram children and a mixed service-like registry of ~10,000
# series, in the Prometheus text format 0.0.4 and OpenMetrics (with exemplars); plus the per-request
# telemetry operations (telemetry-bench hotpath). Median, p99 and min wall-clock ms over many
# iterations, and median thread CPU ms (steadier on a shared machine).
# Writes bench/results/metrics-render.md.
#
# Usage: bench/metrics-render.sh [iterations] [rounds]
#   SCRATCH_PATH=dir   SwiftPM scratch path for the release build (default .build)
#   BASELINE=path      another telemetry-bench binary (e.g. built from an older revision) to run
#                      interleaved with this one; the table then has a before and an after row
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${1:-200}; ROUNDS=${2:-3}
SCRATCH=${SCRATCH_PATH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product telemetry-bench >/dev/null
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/telemetry-bench
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for scenario in counters histograms histograms-no-exemplars mixed; do
    if [ -n "${BASELINE:-}" ] && [ "$scenario" != histograms-no-exemplars ]; then
      "$BASELINE" render --scenario "$scenario" --iterations "$ITERATIONS" --warmup 20 | sed "s/^/before /" >>"$work/rows"
    fi
    "$BIN" render --scenario "$scenario" --iterations "$ITERATIONS" --warmup 20 | sed "s/^/after /" >>"$work/rows"
  done
done
"$BIN" hotpath >"$work/hotpath"
"$BIN" chain >"$work/chain"
out=bench/results/metrics-render.md
mkdir -p bench/results
python3 - "$work/rows" "$work/hotpath" "$ITERATIONS" "$ROUNDS" "${BASELINE:+yes}" "$work/chain" >"$out" <<'PY'
import json, sys, statistics, datetime, os, subprocess, platform
rows_path, hot_path, iterations, rounds, baseline, chain_path = sys.argv[1:7]
cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"] * 3
cmd = f"bench/metrics-render.sh {iterations} {rounds}"
if baseline:
    cmd = "BASELINE=<telemetry-bench built from the same revision without these changes> " + cmd
print("# /metrics render time")
print()
print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ}, revision {rev} (with uncommitted changes), "
      f"{os.cpu_count()} CPUs ({cpu}), load average {' '.join(load)}. Command: `{cmd}`.")
print()
print("Each iteration renders the whole registry into one reused buffer (`MetricsRegistry.render(_:into:)`, what "
      "`MetricsEndpoint` does per scrape, before gzip). Wall-clock ms are median / p99 / min over "
      f"{iterations} iterations per round, medians of {rounds} rounds; CPU ms is the median thread CPU time, "
      "the figure to read on a shared machine.")
print()
print("What a series is here: one label set of one family. A histogram child is one series and writes "
      "14 `_bucket` lines (13 latency buckets and `+Inf`), `_sum` and `_count`: 16 sample lines.")
print()
print("- **counters**: 10,000 series of one counter family (`pd_inference_requests_total{model,version,outcome}`), 10,000 sample lines.")
print("- **histograms**: 10,000 children of one histogram family (`{model,version}`, default 13 buckets), 20 observations "
      "each (whole-nanosecond latencies, log-uniform 0.5 ms to 4 s), every fourth with a trace exemplar: 160,000 sample "
      "lines, and in OpenMetrics about 42,000 exemplars (every bucket that holds one, about 4 per child).")
print("- **histograms-no-exemplars**: the same without exemplars (a service without tracing); identical to "
      "**histograms** in the Prometheus text format, which never carries exemplars.")
print("- **mixed**: the service's own families (ARCHITECTURE.md §6) for 576 model versions (6 outcome counters, 3 trigger "
      "counters, 3 latency histograms, a batch-size histogram with 7 buckets, 4 gauges each), 198 HTTP series, the "
      "telemetry, build and process metrics: ~10,000 series, 2,326 of them histograms, ~41,400 sample lines, one exemplar "
      "per latency histogram.")
print()
data = {}
meta = {}
for line in open(rows_path):
    which, text = line.split(" ", 1)
    r = json.loads(text)
    key = (r["scenario"], r["format"], which)
    data.setdefault(key, []).append(r)
    meta[(r["scenario"], r["format"])] = r
print("| scenario | format | build | series | sample lines | exemplars | bytes | median ms | p99 ms | min ms | CPU ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for scenario in ["counters", "histograms", "histograms-no-exemplars", "mixed"]:
    for fmt in ["prometheus-0.0.4", "openmetrics"]:
        for which in (["before", "after"] if baseline else ["after"]):
            rs = data.get((scenario, fmt, which))
            if not rs: continue
            m = lambda k: statistics.median(float(r[k]) for r in rs)
            r0 = rs[0]
            print(f"| {scenario} | {fmt} | {which} | {r0['series']:,} | {r0['sample_lines']:,} | {r0['exemplars']:,} | "
                  f"{r0['bytes']:,} | {m('median_ms'):.2f} | {m('p99_ms'):.2f} | {min(float(r['min_ms']) for r in rs):.2f} | {m('cpu_median_ms'):.2f} |")
print()
print("## Per-request operations (`telemetry-bench hotpath`, thread CPU ns per call, one thread)")
print()
print("| operation | ns |")
print("|---|---|")
for line in open(hot_path):
    r = json.loads(line)
    print(f"| {r['op']} | {r['ns_per_op']} |")
print()
print("`span.*.eager` build the name and attributes before starting the span (the old TracingMiddleware); the others "
      "use `Tracer.startSpan(context:ofKind:details:)`, which builds them only for a sampled span. "
      "`log.access-line.metadata` is the access line through the `Logger.Metadata` dictionary (the old "
      "AccessLogMiddleware), `log.access-line.fields` the same line through `Logger.Fields`; both write the same bytes "
      "into a `JSONLogHandler` whose writer discards them. `span.record.sampled` is a span already over (queue wait, "
      "execute, batch steps) recorded in one call by `Tracer.recordSpan`.")
print()
print("## The HTTP middleware chain (`telemetry-bench chain`, thread CPU ns per request, one thread)")
print()
print("A request through the service's middleware to a handler that answers at once: each telemetry layer alone and all "
      "three (access log, metrics, tracing with an unsampled or a sampled span), on the infer route and on `/healthz` "
      "(a probe: logged at debug, not traced). `added` is the cost over no middleware. The work behind the layers on "
      "other threads (writing log lines, exporting spans) is not counted.")
print()
print("| route | layers | ns per request | added ns |")
print("|---|---|---|---|")
for line in open(chain_path):
    r = json.loads(line)
    _, route, layers = r["op"].split(".", 2)
    print(f"| {route} | {layers} | {r['ns_per_op']} | {r['added_ns']} |")
PY
cat "$out"
