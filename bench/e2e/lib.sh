# Shared by bench/e2e.sh and bench/e2e/configs.sh (source bench/lib.sh first).

PEER_VENV=bench/.venv-peer

# Creates (or refreshes after a requirements change) the peer's virtual environment from PyPI.
ensure_peer_venv() {
  local stamp="$PEER_VENV/.requirements.sha256" want
  want=$(cat bench/peers/requirements.txt bench/e2e/requirements.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x "$PEER_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "creating $PEER_VENV" >&2
    python3 -m venv "$PEER_VENV"
    "$PEER_VENV/bin/pip" install -q --disable-pip-version-check -r bench/peers/requirements.txt -r bench/e2e/requirements.txt >&2
    echo "$want" >"$stamp"
  fi
}

ensure_wrk() {
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}

# PID and every descendant (uvicorn --workers forks a supervisor's children).
tree_pids() {
  local pid=$1 child
  [ -d "/proc/$pid" ] || return 0
  echo "$pid"
  for child in $(pgrep -P "$pid"); do tree_pids "$child"; done
}

# User + system CPU seconds summed over a process tree.
tree_cpu_seconds() {
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$(awk -v a="$total" -v b="$(cpu_seconds "$p" 2>/dev/null || echo 0)" 'BEGIN { print a + b }')
  done
  echo "$total"
}

# Resets every process's peak resident size (VmHWM) to its current size (Linux clear_refs 5).
tree_reset_peak_rss() {
  local p
  for p in $(tree_pids "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}

# "peak_rss_mib rss_mib pss_mib" summed over a process tree: VmHWM, VmRSS and the proportional set size
# (shared pages split among the processes that map them).
tree_memory_mib() {
  local p hwm=0 rss=0 pss=0 h r s
  for p in $(tree_pids "$1"); do
    h=$(awk '/^VmHWM/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    hwm=$((hwm + ${h:-0})); rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
  done
  awk -v h="$hwm" -v r="$rss" -v s="$pss" 'BEGIN { printf "%.1f %.1f %.1f\n", h / 1024, r / 1024, s / 1024 }'
}

# start_peer PORT WORKERS INTRA_OP_THREADS OFFLOAD: starts the FastAPI peer in the background; sets PEER_PID.
start_peer() {
  local port=$1 workers=$2 intra=$3 offload=$4 log=${5:-/dev/null}
  local args=(--app-dir bench/peers --host 127.0.0.1 --port "$port" --no-access-log --log-level warning)
  [ "$workers" -gt 1 ] && args+=(--workers "$workers")
  MODEL_REPOSITORY=models ORT_INTRA_OP_THREADS=$intra PEER_OFFLOAD=$offload \
    "$PEER_VENV/bin/python" -m uvicorn app:app "${args[@]}" >"$log" 2>&1 &
  PEER_PID=$!
}

stop_tree() {
  local pid=$1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Busy CPU seconds of the whole machine so far (all CPUs; idle and iowait excluded), from /proc/stat.
machine_busy_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}

# wait_quiet MAX_SECONDS PERCENT: waits until the whole machine used less than PERCENT of one CPU over a
# 2-second sample (so call it with the servers idle), or MAX_SECONDS have passed. Prints the last sample.
wait_quiet() {
  local max=$1 limit=$2 waited=0 b0 b1 busy
  while :; do
    b0=$(machine_busy_seconds); sleep 2; b1=$(machine_busy_seconds); waited=$((waited + 2))
    busy=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.0f", (b - a) / 2 * 100 }')
    [ "$busy" -lt "$limit" ] || [ "$waited" -ge "$max" ] && break
  done
  echo "$busy"
}

# children_cpu_seconds FILE: writes the CPU seconds (user + system) of this shell's finished children so
# far to FILE, from the `times` builtin. It must run in the measuring shell itself: a pipeline or command
# substitution would fork, and a fork's children start from zero.
children_cpu_seconds() {
  times >"$1"
  awk 'NR == 2 {
      t = 0
      for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
      print t }' "$1" >"$1.s"
  mv "$1.s" "$1"
}

# wrk_cell URL CONNECTIONS SECONDS PID BODY: runs wrk with bench/e2e/infer.lua and prints
# "rps p50_ms p90_ms p99_ms max_ms errors requests cpu_us_per_req peak_rss_mib rss_mib pss_mib wrk_cpu_pct other_cpu_pct".
# wrk_cpu_pct is the load generator's CPU and other_cpu_pct everything else on the machine besides the
# server under test, both as a percentage of one CPU over the cell: a large other_cpu_pct marks a noisy cell.
wrk_cell() {
  local url=$1 conns=$2 secs=$3 pid=$4 body=$5 threads=2 before after line busy0 busy1 kids0 kids1 t0 t1 tmp
  tmp=$(mktemp)
  [ "$conns" -lt 2 ] && threads=1
  tree_reset_peak_rss "$pid"
  before=$(tree_cpu_seconds "$pid"); busy0=$(machine_busy_seconds); children_cpu_seconds "$tmp.0"; t0=$(date +%s.%N)
  line=$(BODY_FILE=$body wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 30s -s bench/e2e/infer.lua "$url" | grep '^E2E ')
  t1=$(date +%s.%N); children_cpu_seconds "$tmp.1"; busy1=$(machine_busy_seconds); after=$(tree_cpu_seconds "$pid")
  kids0=$(cat "$tmp.0"); kids1=$(cat "$tmp.1"); rm -f "$tmp" "$tmp.0" "$tmp.1"
  local mem; mem=$(tree_memory_mib "$pid")
  echo "$line" | awk -v before="$before" -v after="$after" -v mem="$mem" -v b0="$busy0" -v b1="$busy1" \
      -v k0="$kids0" -v k1="$kids1" -v t0="$t0" -v t1="$t1" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      reqs = v["requests"] + 0
      wall = t1 - t0; server = after - before; load = k1 - k0
      other = (b1 - b0) - server - load; if (other < 0) other = 0
      printf "%.1f %.3f %.3f %.3f %.3f %d %d %.1f %s %.0f %.0f\n", v["rps"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["max_ms"],
        v["non2xx"] + v["socket_errors"], reqs, server * 1e6 / (reqs > 0 ? reqs : 1), mem,
        load / wall * 100, other / wall * 100 }'
}
