# Shared by the benchmark scripts.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Total CPU seconds (user + system) of a process and its threads; of several processes summed.
cpu_seconds() {
  local times
  times=$(cpu_user_system "$@") || return
  awk '{ print $1 + $2 }' <<<"$times"
}

# User and system CPU seconds of processes, summed: "user system".
cpu_user_system() {
  local pid files=()
  for pid in "$@"; do files+=("/proc/$pid/stat"); done
  awk -v hz="$(getconf CLK_TCK)" '{ u += $14 / hz; s += $15 / hz } END { print u, s }' "${files[@]}"
}

# CPU time of all a process's threads so far, in nanoseconds (schedstat: finer than cpu_seconds'
# clock ticks, but threads that have exited are not counted).
thread_cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.0f", ns }'  # not %d: mawk caps it at 2^31 - 1
}

# start_otlp_sink DIR: an OTLP/HTTP trace sink on loopback (nginx answering 200 to POST /v1/traces,
# one worker) that keeps up with any export rate here; prints "pid port". tools/otlp_sink.py (Python)
# takes about 12,000 spans/s, fewer than a loaded server ends, which then drops spans instead of
# exporting them and looks cheaper than it is.
start_otlp_sink() {
  local dir=$1 port
  port=$(free_port)
  cat >"$dir/otlp-sink.conf" <<CONF
worker_processes 1;
pid $dir/otlp-sink.pid;
error_log $dir/otlp-sink-error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 64m;
    location = /v1/traces { default_type application/json; return 200 "{}"; }
  }
}
CONF
  nginx -c "$dir/otlp-sink.conf" -g 'daemon off;' >/dev/null 2>&1 &
  echo "$! $port"
}

# wait_otlp_sink PORT: waits (at most 5 s) until the sink started by start_otlp_sink answers.
wait_otlp_sink() {
  for _ in $(seq 1 50); do
    curl -fsS -X POST --data-binary x "http://127.0.0.1:$1/v1/traces" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
}

# trace_spans PORT dropped|exported: the server's pd_trace_spans_<what>_total (0 when tracing is off).
trace_spans() {
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v name="pd_trace_spans_$2_total" '$1 == name { n = $2 } END { printf "%.0f", n }'
}

dropped_spans() { trace_spans "$1" dropped; }

# Resident memory of a process in MiB.
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

wait_http() {
  for _ in $(seq 1 300); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# run_wrk URL CONNECTIONS SECONDS PID [SCRIPT]: prints "req_per_s cpu_us_per_req p50_ms p99_ms requests errors"
# PID may be several, space-separated (e.g. nginx's workers): their CPU is summed.
run_wrk() {
  local url=$1 conns=$2 secs=$3 script=${5:-}
  local before after out threads=2 pids
  read -r -a pids <<<"$4"
  [ "$conns" -lt 2 ] && threads=1
  before=$(cpu_seconds "${pids[@]}")
  if [ -n "$script" ]; then
    out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$script" "$url")
  else
    out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url")
  fi
  after=$(cpu_seconds "${pids[@]}")
  echo "$out" | awk -v before="$before" -v after="$after" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    /Non-2xx or 3xx/ { errs += $NF }
    /Socket errors/ { errs += 0 }
    /Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.2f %.3f %.3f %d %d\n", rps, (after - before) * 1e6 / (reqs > 0 ? reqs : 1), p50, p99, reqs, errs }'
}
