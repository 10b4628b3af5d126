-- wrk script for bench/e2e.sh: POST the Open Inference Protocol v2 body in $BODY_FILE to the URL's path
-- and print one summary line at the end:
--   E2E requests=N duration_s=S rps=R p50_ms=… p90_ms=… p99_ms=… max_ms=… non2xx=N socket_errors=N
-- Latency percentiles come from wrk's per-request histogram (microsecond resolution); requests that time
-- out (wrk --timeout) are counted in socket_errors, not in the percentiles, so give a generous --timeout.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return us / 1000 end
  io.write(string.format(
    "E2E requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency.max),
    e.status, e.connect + e.read + e.write + e.timeout))
end
