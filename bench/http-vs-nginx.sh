#!/usr/bin/env bash
# /healthz on pd-inference against nginx serving a small response, both with 2 workers on loopback,
# in one run. Two methods (METHOD=...):
#   turns (default)  the servers are loaded in turn, which one goes first alternating by round;
#                    writes bench/results/http-vs-nginx.md
#   together         both servers loaded at once in every round, each by its own wrk, so the
#                    shared machine's slow and fast seconds fall on both alike and their req/s
#                    ratio is their cost ratio on the same CPUs; writes
#                    bench/results/http-vs-nginx-together.md
# PD_ENV="NAME=value ..." starts pd-inference with those settings (e.g. TELEMETRY_ENABLED=false, as
# nginx runs with access_log off); its results go to a file named after them.
# Usage: bench/http-vs-nginx.sh [seconds per round] [rounds]   (needs wrk and nginx from Debian)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECS=${1:-8}; ROUNDS=${2:-3}; CONNS=64
METHOD=${METHOD:-turns}
case $METHOD in turns | together) ;; *) echo "METHOD must be turns or together, not '$METHOD'" >&2; exit 2 ;; esac
command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx-light >/dev/null
swift build -c release --product pd-inference >/dev/null
work=$(mktemp -d)
trap 'kill $PD_PID $NGINX_PID 2>/dev/null || true; rm -rf "$work"' EXIT

PD_PORT=$(free_port)
read -r -a pd_env <<<"${PD_ENV:-}"
env HOST=127.0.0.1 PORT=$PD_PORT HTTP_THREADS=2 "${pd_env[@]}" .build/release/pd-inference >"$work/pd.log" 2>&1 &
PD_PID=$!
NG_PORT=$(free_port)
cat >"$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server {
    listen 127.0.0.1:$NG_PORT reuseport;
    location /healthz { default_type text/plain; return 200 "ready\n"; }
  }
}
CONF
nginx -c "$work/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
wait_http "http://127.0.0.1:$PD_PORT/healthz"
wait_http "http://127.0.0.1:$NG_PORT/healthz"
sleep 0.5
# nginx's master forks workers: sum CPU over the master's children.

out=bench/results/http-vs-nginx.md
command="bench/http-vs-nginx.sh $SECS $ROUNDS"
how="$ROUNDS interleaved rounds (which server goes first alternates)"
if [ "$METHOD" = together ]; then
  out=bench/results/http-vs-nginx-together.md
  command="METHOD=together $command"
  how="$ROUNDS rounds, both servers loaded at once by their own wrk (which starts first alternates)"
fi
if [ -n "${PD_ENV:-}" ]; then
  out=${out%.md}-$(echo "$PD_ENV" | tr 'A-Z =' 'a-z_-' | tr -cd 'a-z0-9_-').md
  command="PD_ENV=\"$PD_ENV\" $command"
fi
mkdir -p bench/results
{
  echo "# /healthz: pd-inference${PD_ENV:+ ($PD_ENV)} vs nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), wrk -t2 -c$CONNS -d${SECS}s, $how."
  echo "Command: \`$command\`. CPU µs/request is the server's user+system CPU over the run divided by requests;"
  echo "user and system are its two parts (system: the kernel's work for the server's reads and writes, loopback TCP included)."
  echo
  echo "| round | server | req/s | CPU µs/req | user µs/req | system µs/req | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$out"
pd_total=0; ng_total=0
# Each measurement writes its table row to a file, so the two can also run at once.
# measure NAME URL PIDS: one wrk run; the row goes to $work/NAME.row.
measure() {
  local name=$1 url=$2 pids=$3 u0 s0 u1 s1
  read -r u0 s0 < <(cpu_user_system $pids)
  read -r rps cpu p50 p99 reqs errs < <(run_wrk "$url" $CONNS "$SECS" "$pids")
  read -r u1 s1 < <(cpu_user_system $pids)
  read -r user system < <(awk -v a="$u0" -v b="$u1" -v c="$s0" -v d="$s1" -v n="$reqs" \
    'BEGIN { printf "%.2f %.2f\n", (b - a) * 1e6 / n, (d - c) * 1e6 / n }')
  echo "| $round | $name | $rps | $cpu | $user | $system | $p50 | $p99 | $errs |" >"$work/$name.row"
}
run_pd() { measure pd-inference "http://127.0.0.1:$PD_PORT/healthz" "$PD_PID"; }
# nginx work happens in its worker processes; measure their CPU together.
run_nginx() { measure nginx "http://127.0.0.1:$NG_PORT/healthz" "$(pgrep -P "$NGINX_PID" | xargs)"; }
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  # Which server goes first alternates, so a drift of the shared machine within a round favours neither.
  first=run_pd; second=run_nginx
  if [ $((round % 2)) -eq 0 ]; then first=run_nginx; second=run_pd; fi
  if [ "$METHOD" = together ]; then
    $first & a=$!
    $second & b=$!
    wait "$a" "$b"
  else
    $first; $second
  fi
  cat "$work/pd-inference.row" "$work/nginx.row" >>"$out"
  pd_rps=$(awk -F'|' '{ print $4 + 0 }' "$work/pd-inference.row"); ng_rps=$(awk -F'|' '{ print $4 + 0 }' "$work/nginx.row")
  pd_total=$((pd_total + pd_rps)); ng_total=$((ng_total + ng_rps))
  ratios+=("$(awk -v a="$pd_rps" -v b="$ng_rps" 'BEGIN { printf "%.3f", a / b }')")
done
ratio=$(awk -v a="$pd_total" -v b="$ng_total" 'BEGIN { printf "%.2f", a / b }')
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
{
  echo
  echo "Throughput ratio pd-inference / nginx (sum over rounds): **${ratio}x**; median of the per-round ratios ${median}x (rounds: ${ratios[*]})."
  echo
  # Mean over rounds of each server's CPU µs per request, and its user and system parts.
  awk -F'|' '$3 ~ /pd-inference|nginx/ { k = $3; gsub(/ /, "", k); n[k]++; c[k] += $5; u[k] += $6; s[k] += $7 }
    END { line = "CPU µs per request, mean over rounds (user + system):"
          for (k in n) { line = line sep sprintf(" %s %.2f (%.2f + %.2f)", k, c[k] / n[k], u[k] / n[k], s[k] / n[k]); sep = ";" }
          print line "." }' "$out"
} >>"$out"
cat "$out"
