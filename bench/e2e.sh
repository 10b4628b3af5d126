#!/usr/bin/env bash
# End-to-end benchmark: pd-inference against the service it replaces, a FastAPI + uvicorn + onnxruntime
# Open Inference Protocol v2 server (bench/peers/app.py), on the same models, requests and machine.
#
# Both servers run side by side on loopback; wrk (bench/e2e/infer.lua) posts one-row v2 JSON infer
# requests to POST /v2/models/{model}/infer at each concurrency for SECONDS per cell. Every round starts
# both servers afresh and measures every (model, concurrency) cell on both, back to back, alternating
# which server goes first, so background noise hits both alike. Per cell: req/s, p50/p90/p99/max latency,
# errors (non-2xx and socket errors), server CPU per request (user + system from /proc, summed over every
# process of the server) and peak resident memory (VmHWM reset before the cell, summed over processes).
#
# Writes bench/results/e2e.md, bench/results/e2e-{throughput,p99,memory}.png and the raw rows to
# bench/out/e2e.tsv. Needs wrk (installed from Debian if missing) and python3; creates bench/.venv-peer
# from PyPI (bench/peers/requirements.txt, bench/e2e/requirements.txt).
#
# Usage: bench/e2e.sh [seconds per cell, default 8] [rounds, default 3]
# Environment (defaults in brackets):
#   MODELS [mlp digits]   CONCURRENCIES [1 8 64 256]
#   PD_MAX_BATCH_SIZE [32]  PD_MAX_QUEUE_DELAY_MS [0]  PD_WORKER_THREADS [2]  PD_HTTP_THREADS [2]
#   PEER_WORKERS [2]  PEER_INTRA_OP_THREADS [1]  PEER_OFFLOAD [inline]   (see bench/e2e/configs.sh)
#   PD_BIN [built with swift build -c release]: a pd-inference binary to use instead of building one
#   E2E_OUT [bench/results]: where e2e.md and the charts go (another folder for trial runs)
#   QUIET_LOAD [1.0], QUIET_WAIT [0]: wait up to QUIET_WAIT seconds for the 1-minute load average to drop
#     below QUIET_LOAD before starting (other work on the machine skews both servers' numbers)
#   MAX_OTHER_CPU [25], CELL_TRIES [3], RETRY_WAIT [180]: a cell during which processes other than the
#     server under test and wrk used more than MAX_OTHER_CPU percent of one CPU is measured again once the
#     machine is quiet (or after RETRY_WAIT seconds), up to CELL_TRIES times in all and RETRY_BUDGET [900]
#     seconds of waiting over the whole run; the last try is kept either way and its other-CPU figure is in
#     the report
# pd-inference runs with MAX_QUEUE_DELAY_MS=0: a batch starts as soon as a worker is free, so batches form
# from the requests that arrived while both workers were busy; with the default 2 ms a lone request waits
# 2 ms for company (bench/e2e/configs.sh compares the settings).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/e2e/lib.sh

SECS=${1:-8}; ROUNDS=${2:-3}
MODELS=${MODELS:-mlp digits}
CONCURRENCIES=${CONCURRENCIES:-1 8 64 256}
PD_MAX_BATCH_SIZE=${PD_MAX_BATCH_SIZE:-32}
PD_MAX_QUEUE_DELAY_MS=${PD_MAX_QUEUE_DELAY_MS:-0}
PD_WORKER_THREADS=${PD_WORKER_THREADS:-2}
PD_HTTP_THREADS=${PD_HTTP_THREADS:-2}
PEER_WORKERS=${PEER_WORKERS:-2}
PEER_INTRA_OP_THREADS=${PEER_INTRA_OP_THREADS:-1}
PEER_OFFLOAD=${PEER_OFFLOAD:-inline}
WARMUP_SECS=2
OUT_DIR=${E2E_OUT:-bench/results}
QUIET_LOAD=${QUIET_LOAD:-1.0}; QUIET_WAIT=${QUIET_WAIT:-0}
MAX_OTHER_CPU=${MAX_OTHER_CPU:-25}; CELL_TRIES=${CELL_TRIES:-3}; RETRY_WAIT=${RETRY_WAIT:-180}; RETRY_BUDGET=${RETRY_BUDGET:-900}; waited_total=0

[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "seconds per cell must be 1..120" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || { echo "rounds must be 1..20" >&2; exit 2; }
for c in $CONCURRENCIES; do
  [[ $c =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] && [ "$c" -le 1024 ] || { echo "concurrency $c must be 1..1024" >&2; exit 2; }
done
for m in $MODELS; do
  case $m in mlp) ;; digits) ;; *) echo "model $m: only mlp and digits have request bodies here" >&2; exit 2 ;; esac
done

ensure_wrk
ensure_peer_venv
if [ -z "${PD_BIN:-}" ]; then
  swift build -c release --product pd-inference >/dev/null
  PD_BIN=.build/release/pd-inference
fi

work=$(mktemp -d)
PD_PID=; PEER_PID=
trap 'stop_tree "$PD_PID"; stop_tree "$PEER_PID"; rm -rf "$work"' EXIT
# A private copy, so a rebuild in the work tree during the run changes nothing.
cp "$PD_BIN" "$work/pd-inference"
python3 bench/make_body.py 1 784 >"$work/mlp.json"
python3 bench/make_body.py 1 64 >"$work/digits.json"

mkdir -p bench/out "$OUT_DIR"
tsv=bench/out/e2e.tsv
printf 'round\tserver\tmodel\tconcurrency\trps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\terrors\trequests\tcpu_us_per_req\tpeak_rss_mib\trss_mib\tpss_mib\twrk_cpu_pct\tother_cpu_pct\n' >"$tsv"
pd_settings="HOST=127.0.0.1 MODEL_REPOSITORY=models MAX_BATCH_SIZE=$PD_MAX_BATCH_SIZE MAX_QUEUE_DELAY_MS=$PD_MAX_QUEUE_DELAY_MS WORKER_THREADS=$PD_WORKER_THREADS COMPUTE_THREADS=1 HTTP_THREADS=$PD_HTTP_THREADS MAX_QUEUE_SIZE=1024 LOG_LEVEL=warning"
[[ $MAX_OTHER_CPU =~ ^[0-9]+$ ]] || { echo "MAX_OTHER_CPU must be a whole percentage" >&2; exit 2; }
[[ $RETRY_WAIT =~ ^[0-9]+$ ]] && [ "$RETRY_WAIT" -le 900 ] || { echo "RETRY_WAIT must be 0..900 seconds" >&2; exit 2; }
[[ $RETRY_BUDGET =~ ^[0-9]+$ ]] && [ "$RETRY_BUDGET" -le 3600 ] || { echo "RETRY_BUDGET must be 0..3600 seconds" >&2; exit 2; }
[[ $CELL_TRIES =~ ^[0-9]+$ ]] && [ "$CELL_TRIES" -ge 1 ] && [ "$CELL_TRIES" -le 5 ] || { echo "CELL_TRIES must be 1..5" >&2; exit 2; }
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] && [ "$QUIET_WAIT" -le 3600 ] || { echo "QUIET_WAIT must be 0..3600 seconds" >&2; exit 2; }
waited=0
until awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v q="$QUIET_LOAD" 'BEGIN { exit !(l < q) }' || [ "$waited" -ge "$QUIET_WAIT" ]; do
  [ "$waited" -eq 0 ] && echo "waiting up to ${QUIET_WAIT}s for the load average ($(cut -d' ' -f1 /proc/loadavg)) to drop below $QUIET_LOAD" >&2
  sleep 10; waited=$((waited + 10))
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
t0=$(date +%s)

start_pd() {
  # shellcheck disable=SC2086
  env $pd_settings PORT="$1" "$work/pd-inference" >"$work/pd.log" 2>&1 &
  PD_PID=$!
}

for round in $(seq 1 "$ROUNDS"); do
  PD_PORT=$(free_port); start_pd "$PD_PORT"
  PEER_PORT=$(free_port); start_peer "$PEER_PORT" "$PEER_WORKERS" "$PEER_INTRA_OP_THREADS" "$PEER_OFFLOAD" "$work/peer.log"
  wait_http "http://127.0.0.1:$PD_PORT/v2/health/ready" || { cat "$work/pd.log" >&2; exit 1; }
  wait_http "http://127.0.0.1:$PEER_PORT/v2/health/ready" || { cat "$work/peer.log" >&2; exit 1; }
  declare -A url=([pd-inference]="http://127.0.0.1:$PD_PORT" [fastapi-onnxruntime]="http://127.0.0.1:$PEER_PORT")
  declare -A pid=([pd-inference]=$PD_PID [fastapi-onnxruntime]=$PEER_PID)
  for model in $MODELS; do
    echo "round $round $model: $(python3 bench/e2e/check_same.py "$work/$model.json" \
      "${url[pd-inference]}/v2/models/$model/infer" "${url[fastapi-onnxruntime]}/v2/models/$model/infer")" >&2
    for server in pd-inference fastapi-onnxruntime; do
      BODY_FILE="$work/$model.json" wrk -t2 -c8 -d"${WARMUP_SECS}s" -s bench/e2e/infer.lua "${url[$server]}/v2/models/$model/infer" >/dev/null
    done
  done
  if [ $((round % 2)) -eq 1 ]; then order=(pd-inference fastapi-onnxruntime); else order=(fastapi-onnxruntime pd-inference); fi
  for model in $MODELS; do
    for conc in $CONCURRENCIES; do
      for server in "${order[@]}"; do
        for try in $(seq 1 "$CELL_TRIES"); do
          read -r rps p50 p90 p99 max errs reqs cpu hwm rss pss wrkcpu other < <(wrk_cell "${url[$server]}/v2/models/$model/infer" "$conc" "$SECS" "${pid[$server]}" "$work/$model.json")
          [ "$other" -le "$MAX_OTHER_CPU" ] || [ "$try" -eq "$CELL_TRIES" ] || [ "$waited_total" -ge "$RETRY_BUDGET" ] && break
          wait_max=$((RETRY_BUDGET - waited_total < RETRY_WAIT ? RETRY_BUDGET - waited_total : RETRY_WAIT))
          echo "round $round $server $model c=$conc: other work took ${other}% of a CPU; measuring again once it stops (at most ${wait_max}s)" >&2
          w0=$(date +%s); wait_quiet "$wait_max" "$MAX_OTHER_CPU" >/dev/null; waited_total=$((waited_total + $(date +%s) - w0))
        done
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$server" "$model" "$conc" \
          "$rps" "$p50" "$p90" "$p99" "$max" "$errs" "$reqs" "$cpu" "$hwm" "$rss" "$pss" "$wrkcpu" "$other" >>"$tsv"
        printf 'round %s %-20s %-6s c=%-3s %8s req/s  p50 %7s ms  p99 %8s ms  errors %s  CPU %6s µs/req  peak RSS %6s MiB  other CPU %s%%\n' \
          "$round" "$server" "$model" "$conc" "$rps" "$p50" "$p99" "$errs" "$cpu" "$hwm" "$other" >&2
        sleep 1
      done
    done
  done
  stop_tree "$PD_PID"; PD_PID=
  stop_tree "$PEER_PID"; PEER_PID=
done

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cat >"$work/meta.env" <<META
command=bench/e2e.sh $SECS $ROUNDS
started=$started
minutes=$(( ($(date +%s) - t0 + 59) / 60 ))
machine=$(nproc) CPUs ($cpu_model), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)
load=$load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min)
revision=$(git describe --always --dirty 2>/dev/null || echo unknown)
swift=$(swift --version 2>/dev/null | head -1)
python=$("$PEER_VENV/bin/python" --version 2>&1)
peer_packages=$("$PEER_VENV/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("fastapi", "uvicorn", "uvloop", "httptools", "onnxruntime", "numpy", "orjson")))')
wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)
secs=$SECS
max_other_cpu=$MAX_OTHER_CPU
cell_tries=$CELL_TRIES
retry_waited=$waited_total
rounds=$ROUNDS
pd_settings=$pd_settings
peer_settings=uvicorn app:app --workers $PEER_WORKERS --no-access-log --log-level warning (uvloop, httptools), ORT_INTRA_OP_THREADS=$PEER_INTRA_OP_THREADS, PEER_OFFLOAD=$PEER_OFFLOAD
META
"$PEER_VENV/bin/python" bench/e2e/report.py "$tsv" "$work/meta.env" "$OUT_DIR"
