#!/usr/bin/env bash
# Telemetry cost on POST /v2/models/mlp/infer, measured so that a shared, noisy machine hurts both
# sides alike. Each round reports both servers' req/s and CPU µs per request (user + system CPU of
# the process over the run, divided by its requests). Three methods (METHOD=...):
#   alternate            the load on one CPU (wrk, the OTLP sink) and the server on another
#                        (taskset); baseline and measured server run in turn, each a fresh process
#                        (a process's own speed varies by a few percent: memory placement), which
#                        one goes first alternates, at the given concurrency (default 64).
#   same-cpu (default)   both servers at once on the same CPU, fresh processes each round, each
#                        loaded by its own wrk from the other CPUs at the given concurrency
#                        (default 64 each): a shared machine's slow and fast seconds fall on both
#                        alike, and the scheduler gives each server (its own session: setsid and
#                        autogroup scheduling) half of the CPU, so their req/s ratio is their cost
#                        ratio. CPU per request is read per process with nanosecond
#                        precision (the threads' schedstat). The steadiest of the three: its A/A
#                        pair stays within ±1.5% and repeated runs agree, where the alternate
#                        method's medians moved by 3-4 points between runs on a busy machine.
#   side-by-side         two servers at once on all CPUs, each in its own session, each loaded by
#                        its own wrk in the same seconds (default concurrency 32 each).
# Pairs (baseline → measured):
#   metrics         TELEMETRY_ENABLED=false → metrics and an access line per request (tracing off)
#   metrics-errors  TELEMETRY_ENABLED=false → metrics, access lines only for errors (ACCESS_LOG=errors)
#   access-log      metrics-errors → metrics (the access line of every request alone)
#   same            metrics → metrics: the method's own noise (ideally 0)
#   tracing-same    tracing → tracing (as in the tracing pair, on both sides): with MEASURED_BIN,
#                   two builds compared with tracing on
#   tracing         tracing off (telemetry on, OTEL_SDK_DISABLED=true) → tracing at 100% sampling
#                   exported over OTLP/HTTP to an nginx sink (bench/lib.sh start_otlp_sink); the
#                   spans the measured server dropped are counted per round (they should be 0)
#   export-batch    tracing with the OpenTelemetry SDKs' batch defaults (OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512,
#                   OTEL_BSP_MAX_QUEUE_SIZE=2048) → tracing with this service's (2048 and 8192)
# Access logs go to /dev/null. Writes bench/results/telemetry-ab.md (alternate:
# bench/results/telemetry-ab-alternate.md; side-by-side: bench/results/telemetry-ab-side-by-side.md;
# with MEASURED_BIN: bench/results/builds-ab.md, or builds-ab-tracing.md for MODES=tracing-same).
#
# Usage: bench/telemetry-ab.sh [seconds per round] [rounds] [connections per server]
#   METHOD=same-cpu|alternate|side-by-side
#   MODES="same metrics ..."   pairs to measure (default: all five)
#   BIN=path          pd-inference binary to test (default: release build of this tree)
#   BASELINE=path     a second binary (e.g. an older revision) measured the same way afterwards
#   MEASURED_BIN=path the measured side runs this binary instead of BIN: with MODES=off (telemetry
#                     off on both sides) this compares two builds, e.g. before and after a change
#   SCRATCH_PATH=dir  SwiftPM scratch path for the release build (default .build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
METHOD=${METHOD:-same-cpu}
case $METHOD in
  alternate) SECS=${1:-4}; ROUNDS=${2:-12}; CONNS=${3:-64} ;;
  same-cpu) SECS=${1:-4}; ROUNDS=${2:-20}; CONNS=${3:-64} ;;
  side-by-side) SECS=${1:-6}; ROUNDS=${2:-6}; CONNS=${3:-32} ;;
  *) echo "METHOD must be alternate, same-cpu or side-by-side, not '$METHOD'" >&2; exit 2 ;;
esac
MODES=${MODES:-same metrics metrics-errors access-log tracing}
if [ "$METHOD" != side-by-side ]; then
  cpus=$(nproc)
  [ "$cpus" -ge 2 ] || { echo "METHOD=$METHOD needs 2 CPUs (servers on one, load on the others)" >&2; exit 2; }
  SERVER_CPU=$((cpus - 1))
  # This shell and everything it starts (wrk, the sink) run on the other CPUs; servers get their own.
  taskset -pc "0-$((cpus - 2))" $$ >/dev/null
  PIN=(taskset -c "$SERVER_CPU")
else
  PIN=()
fi
SESSION=()
AUTOGROUP=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo 0)
if [ "$METHOD" != alternate ]; then
  # Each server in its own session: with autogroup scheduling the kernel shares the CPU between
  # sessions, so each server gets half of it whatever its number of busy threads. Without it the
  # share is per thread, and a side with one more busy thread (tracing's exporter) gets more.
  # (Alternate runs one server at a time.)
  SESSION=(setsid)
  [ "$AUTOGROUP" = 1 ] || echo "warning: kernel.sched_autogroup_enabled is 0: the CPU is shared per thread, not per server" >&2
fi
if [ -z "${BIN:-}" ]; then
  SCRATCH=${SCRATCH_PATH:-.build}
  swift build -c release --scratch-path "$SCRATCH" --product pd-inference >/dev/null
  BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/pd-inference
fi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_body.py 1 784 >"$work/body.json"
export BODY_FILE="$work/body.json"
command -v nginx >/dev/null || { echo "the OTLP sink is nginx: apt-get install -y nginx" >&2; exit 2; }
read -r sink_pid SINK_PORT < <(start_otlp_sink "$work")
pids+=("$sink_pid")
wait_otlp_sink "$SINK_PORT"

start_server() {  # start_server BIN CONFIG → prints "pid port"
  local extra tracing=(TELEMETRY_ENABLED=true OTEL_TRACES_SAMPLER=always_on OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT")
  case $2 in
    off) extra=(TELEMETRY_ENABLED=false) ;;
    metrics) extra=(TELEMETRY_ENABLED=true OTEL_SDK_DISABLED=true) ;;
    metrics-errors) extra=(TELEMETRY_ENABLED=true OTEL_SDK_DISABLED=true ACCESS_LOG=errors) ;;
    access-log | same) extra=(TELEMETRY_ENABLED=true OTEL_SDK_DISABLED=true ACCESS_LOG=all) ;;
    tracing | tracing-same | export-batch) extra=("${tracing[@]}") ;;
    sdk-batches) extra=("${tracing[@]}" OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512 OTEL_BSP_MAX_QUEUE_SIZE=2048) ;;
  esac
  local port; port=$(free_port)
  env HOST=127.0.0.1 PORT=$port MAX_QUEUE_SIZE=1024 LOG_LEVEL=info SHUTDOWN_DRAIN_SECONDS=0 "${extra[@]}" "${SESSION[@]}" "${PIN[@]}" "$1" >/dev/null 2>&1 &
  echo "$! $port"
}

baseline_of() {  # the configuration MODE is compared against
  case $1 in tracing | same) echo metrics ;; tracing-same) echo tracing-same ;; access-log) echo metrics-errors ;; export-batch) echo sdk-batches ;; *) echo off ;; esac
}

start_side() {  # start_side a|b BIN MODE → prints "pid port": MODE's baseline (a) or MODE itself (b)
  if [ "$1" = a ]; then start_server "$2" "$(baseline_of "$3")"; else start_server "${MEASURED_BIN:-$2}" "$3"; fi
}

pair() {  # pair LABEL BIN MODE : MODE's baseline and MODE of BIN side by side, ROUNDS times
  local label=$1 bin=$2 mode=$3
  read -r pid_a port_a < <(start_side a "$bin" "$mode")
  read -r pid_b port_b < <(start_side b "$bin" "$mode")
  pids+=("$pid_a" "$pid_b")
  wait_http "http://127.0.0.1:$port_a/readyz"; wait_http "http://127.0.0.1:$port_b/readyz"
  for round in $(seq 1 "$ROUNDS"); do
    # The load that starts first has a few milliseconds' head start: alternate it.
    local first=a second=b
    if [ $((round % 2)) -eq 0 ]; then first=b; second=a; fi
    local -A port=([a]=$port_a [b]=$port_b) pid=([a]=$pid_a [b]=$pid_b)
    run_wrk "http://127.0.0.1:${port[$first]}/v2/models/mlp/infer" "$CONNS" "$SECS" "${pid[$first]}" bench/infer.lua >"$work/$first" &
    local w1=$!
    run_wrk "http://127.0.0.1:${port[$second]}/v2/models/mlp/infer" "$CONNS" "$SECS" "${pid[$second]}" bench/infer.lua >"$work/$second" &
    local w2=$!
    wait "$w1" "$w2"
    read -r rps_a cpu_a _ < "$work/a"; read -r rps_b cpu_b _ < "$work/b"
    echo "$label $mode $round $rps_a $cpu_a $rps_b $cpu_b $(dropped_spans "$port_b")" >>"$work/rows"
  done
  kill -TERM "$pid_a" "$pid_b"; wait "$pid_a" "$pid_b" 2>/dev/null || true
}

alternate() {  # alternate LABEL BIN MODE : baseline and measured server in turn, fresh each round
  local label=$1 bin=$2 mode=$3 round side dropped
  local -A rps cpu
  for round in $(seq 1 "$ROUNDS"); do
    local order=(a b)
    if [ $((round % 2)) -eq 0 ]; then order=(b a); fi
    for side in "${order[@]}"; do
      read -r pid port < <(start_side "$side" "$bin" "$mode")
      pids+=("$pid")
      wait_http "http://127.0.0.1:$port/readyz"
      wrk -t2 -c"$CONNS" -d1s -s bench/infer.lua "http://127.0.0.1:$port/v2/models/mlp/infer" >/dev/null  # warm-up
      read -r "rps[$side]" "cpu[$side]" _ < <(run_wrk "http://127.0.0.1:$port/v2/models/mlp/infer" "$CONNS" "$SECS" "$pid" bench/infer.lua)
      [ "$side" = b ] && dropped=$(dropped_spans "$port")
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    done
    echo "$label $mode $round ${rps[a]} ${cpu[a]} ${rps[b]} ${cpu[b]} $dropped" >>"$work/rows"
  done
}

requests_of() {  # requests_of WRK_OUTPUT_FILE
  awk '/ requests in / { print $1 }' "$1"
}

same_cpu() {  # same_cpu LABEL BIN MODE : baseline and measured server at once on one CPU, fresh each round
  local label=$1 bin=$2 mode=$3 round side
  for round in $(seq 1 "$ROUNDS"); do
    local order=(a b)
    if [ $((round % 2)) -eq 0 ]; then order=(b a); fi
    local -A pid port cpu0 rps cpu
    for side in "${order[@]}"; do
      read -r "pid[$side]" "port[$side]" < <(start_side "$side" "$bin" "$mode")
      pids+=("${pid[$side]}")
    done
    for side in a b; do wait_http "http://127.0.0.1:${port[$side]}/readyz"; done
    local warm=()
    for side in a b; do  # warm-up, both at once
      wrk -t1 -c"$CONNS" -d1s -s bench/infer.lua "http://127.0.0.1:${port[$side]}/v2/models/mlp/infer" >/dev/null &
      warm+=($!)
    done
    wait "${warm[@]}"
    for side in a b; do cpu0[$side]=$(thread_cpu_ns "${pid[$side]}"); done
    local loads=()
    for side in "${order[@]}"; do
      wrk -t1 -c"$CONNS" -d"${SECS}s" -s bench/infer.lua "http://127.0.0.1:${port[$side]}/v2/models/mlp/infer" >"$work/$side" &
      loads+=($!)
    done
    wait "${loads[@]}"
    local dropped; dropped=$(dropped_spans "${port[b]}")
    for side in a b; do
      local n; n=$(requests_of "$work/$side")
      rps[$side]=$(awk -v n="$n" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
      cpu[$side]=$(awk -v a="${cpu0[$side]}" -v b="$(thread_cpu_ns "${pid[$side]}")" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / 1000 / (n > 0 ? n : 1) }')
      kill -TERM "${pid[$side]}"
    done
    wait "${pid[a]}" "${pid[b]}" 2>/dev/null || true
    echo "$label $mode $round ${rps[a]} ${cpu[a]} ${rps[b]} ${cpu[b]} $dropped" >>"$work/rows"
  done
}

for mode in $MODES; do
  if [ "$METHOD" = alternate ]; then
    alternate after "$BIN" "$mode"
    if [ -n "${BASELINE:-}" ]; then alternate before "$BASELINE" "$mode"; fi
  elif [ "$METHOD" = same-cpu ]; then
    same_cpu after "$BIN" "$mode"
    if [ -n "${BASELINE:-}" ]; then same_cpu before "$BASELINE" "$mode"; fi
  else
    pair after "$BIN" "$mode"
    if [ -n "${BASELINE:-}" ]; then pair before "$BASELINE" "$mode"; fi
  fi
done

out=bench/results/telemetry-ab.md
[ "$METHOD" = side-by-side ] && out=bench/results/telemetry-ab-side-by-side.md
[ "$METHOD" = alternate ] && out=bench/results/telemetry-ab-alternate.md
if [ -n "${MEASURED_BIN:-}" ]; then
  out=bench/results/builds-ab.md
  [ "$MODES" = tracing-same ] && out=bench/results/builds-ab-tracing.md
fi
mkdir -p bench/results
python3 - "$work/rows" "$SECS" "$ROUNDS" "$CONNS" "${BASELINE:+yes}" "$METHOD" "${SERVER_CPU:-}" "${MEASURED_BIN:+yes}" "$MODES" "$AUTOGROUP" >"$out" <<'PY'
import sys, statistics, datetime, os, subprocess, math
rows, secs, rounds, conns, baseline, method, server_cpu, measured_bin, modes, autogroup = sys.argv[1:11]
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
# The results file itself is being written: it does not make the revision dirty.
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
                       capture_output=True, text=True).stdout
# Each line is "XY path": not stripped as a whole, or the first line's X (often a space) goes.
changed = sorted({line[3:].strip() for line in dirty.splitlines() if line.strip()})
dirty = dirty.strip()
rev += f" (with uncommitted changes to {', '.join(changed[:5])}{' …' if len(changed) > 5 else ''})" if dirty else ""
load = open("/proc/loadavg").read().split()[:3]
cmd = f"METHOD={method} bench/telemetry-ab.sh {secs} {rounds} {conns}"
if modes != "same metrics metrics-errors access-log tracing":
    cmd = f"MODES=\"{modes}\" " + cmd
if measured_bin:
    cmd = "BIN=<pd-inference before the change> MEASURED_BIN=<pd-inference after it> " + cmd
if baseline:
    cmd = "BASELINE=<pd-inference built without the telemetry changes> " + cmd
print(("# Two builds" + (", TELEMETRY_ENABLED=false" if modes == "off" else "") if measured_bin else "# Telemetry overhead, off and on")
      + (" in turn" if method == "alternate" else " side by side"))
print()
print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ}, revision {rev}, "
      f"{os.cpu_count()} CPUs, load average {' '.join(load)}. Command: `{cmd}`.")
print()
if method == "same-cpu":
    print(f"Both servers, the baseline and the configuration under test, run at once on CPU {server_cpu} (taskset), each "
          f"a fresh process every round (which starts first alternates), each loaded by its own `wrk -t1 -c{conns} "
          f"-d{secs}s` from the other CPUs in the same seconds after a 1 s warm-up of both; {rounds} rounds. Each server "
          "runs in its own session (setsid), so the kernel's autogroup scheduling gives each half of the CPU whatever its "
          f"number of busy threads (kernel.sched_autogroup_enabled={autogroup}); the cheaper server answers more "
          "requests: their req/s ratio is the cost ratio, and the shared machine's slow and fast moments fall on both alike. CPU µs per request is each "
          "process's own CPU time (the sum of its threads' schedstat, in ns) over its requests. Access logs go to /dev/null.")
elif method == "alternate":
    print(f"The server runs alone on CPU {server_cpu} (taskset), the load (`wrk -t2 -c{conns} -d{secs}s`, after a 1 s "
          "warm-up) and the OTLP sink on the other CPUs. In each round the baseline and the configuration under "
          "test run in turn, each as a fresh process (which goes first alternates), so drifts of the shared "
          f"machine and a process's own speed (memory placement) fall on both sides alike; {rounds} rounds. "
          "Access logs go to /dev/null.")
else:
    print(f"Two servers run at once, each in its own session (setsid: the CPUs are shared per server, not per thread), "
          f"a baseline and the configuration under test, each loaded by its own "
          f"`wrk -t2 -c{conns} -d{secs}s` at the same time (which load starts first alternates), {rounds} rounds. Both share the same (noisy) CPUs in the same "
          "seconds, so their difference is the telemetry's; absolute figures are those of two loaded servers on 2 CPUs. "
          "Access logs go to /dev/null.")
print()
print("- metrics: TELEMETRY_ENABLED=false against metrics and an access line per request (the default; tracing off "
      "with OTEL_SDK_DISABLED=true).")
print("- metrics-errors: TELEMETRY_ENABLED=false against metrics with access lines only for errors (ACCESS_LOG=errors).")
print("- access-log: metrics with ACCESS_LOG=errors against the same with an access line per request (the lines' own cost).")
print("- same: the metrics configuration on both sides" + (" (the measured side is another build: MEASURED_BIN)." if measured_bin else ", the method's own noise."))
print("- tracing: tracing off (telemetry on, OTEL_SDK_DISABLED=true) against tracing at 100% sampling "
      "(OTEL_TRACES_SAMPLER=always_on), spans exported over OTLP/HTTP (protobuf, the default) to a sink that keeps up (nginx answering 200 on "
      "loopback, on the load's CPUs).")
if "export-batch" in modes.split():
    print("- export-batch: tracing as in the tracing pair, exported in batches of 512 spans from a queue of 2048 "
          "(the OpenTelemetry SDKs' defaults) against this service's defaults, 2048 and 8192.")
if "tracing-same" in modes.split():
    print("- tracing-same: the tracing configuration on both sides" + (" (the measured side is another build: MEASURED_BIN)." if measured_bin else ", the method's own noise with tracing on."))
print("- off: TELEMETRY_ENABLED=false on both sides" + (" (the measured side is another build: MEASURED_BIN)." if measured_bin else "."))
print()
print("| build | mode | round | baseline req/s | measured req/s | baseline CPU µs/req | measured CPU µs/req | spans dropped |")
print("|---|---|---|---|---|---|---|---|")
data = {}
dropped = {}
for line in open(rows):
    label, mode, rnd, ra, ca, rb, cb, lost = line.split()
    data.setdefault((label, mode), []).append((float(ra), float(ca), float(rb), float(cb)))
    dropped[(label, mode)] = dropped.get((label, mode), 0) + int(lost)
    print(f"| {label} | {mode} | {rnd} | {ra} | {rb} | {ca} | {cb} | {lost} |")
print()
for (label, mode), lost in dropped.items():
    if mode in ("tracing", "export-batch"):
        print(f"Spans the measured server dropped ({label}, all rounds): {lost}" + (
            " (every span ended was exported)." if lost == 0 else
            ": those rounds measured dropping, which is cheaper than exporting, and understate the cost."))
print()

def median_interval(values):
    """A distribution-free 95% confidence interval for the median: the order statistics whose
    ranks a Binomial(n, 1/2) count keeps the true median between with probability >= 95%."""
    xs, n = sorted(values), len(values)
    cdf, k = 0.0, 0  # k: how many values may lie below the interval (P(Bin < k+1) <= 2.5%)
    while True:
        cdf += math.comb(n, k) / 2 ** n
        if cdf > 0.025:
            break
        k += 1
    return (xs[k - 1], xs[n - k]) if k > 0 else None

def percent(x):
    return f"{x * 100:+.1f}%"

print("| build | mode | median baseline CPU µs/req | median measured CPU µs/req | CPU per request (median of per-round ratios) | its 95% interval | req/s (median of per-round ratios) | its 95% interval |")
print("|---|---|---|---|---|---|---|---|")
for (label, mode), rs in data.items():
    off = statistics.median(r[1] for r in rs)
    on = statistics.median(r[3] for r in rs)
    cells = []
    for ratios in ([r[3] / r[1] - 1 for r in rs], [r[2] / r[0] - 1 for r in rs]):
        interval = median_interval(ratios)
        cells += [percent(statistics.median(ratios)),
                  f"{percent(interval[0])} to {percent(interval[1])}" if interval else "needs 6 rounds or more"]
    print(f"| {label} | {mode} | {off:.1f} | {on:.1f} | " + " | ".join(cells) + " |")
print()
if method == "same-cpu":
    print("With both servers on one CPU, the req/s ratio is the measure (the A/A pair's stays within about ±1.5%). "
          "CPU per request, read per process, is a noisier cross-check here: a server that gets less of the CPU in "
          "a round gathers more requests per wake-up and spends less on each.")
    print()
print("The interval is distribution-free (order statistics of the per-round ratios): the true median ratio "
      "lies in it with at least 95% probability if rounds are independent; more rounds narrow it.")
PY
cat "$out"
