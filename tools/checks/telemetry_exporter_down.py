"""A collector that is down or hung must never slow or fail a request; what is lost is counted.

Three fresh servers with the same settings, each under the same traced load (every request sampled):
  healthy  spans to a working OTLP receiver: the baseline rate and p95 latency, nothing dropped;
  refused  the endpoint's port has no listener (connection refused);
  hanging  the receiver accepts and reads but never answers.
For the last two: every request succeeds; the rate is at least a quarter of the baseline's and the
p95 latency at most max(4x, +500 ms) the baseline's (generous: this machine is shared and noisy; a
request path that waited for the exporter would wait the export timeout, 1 s, or a retry backoff,
0.5 s, per span batch, and fall far outside); /metrics and /readyz answer at once; and
pd_trace_spans_dropped_total increases by all the spans made but a queue and an export batch
(the span queue, OTEL_BSP_MAX_QUEUE_SIZE=256 in these runs, overflows; failed exports are given up
after OTEL_BSP_EXPORT_TIMEOUT) while pd_trace_spans_exported_total stays 0. The hanging receiver must
have seen the exporter connect. SIGTERM then exits 0 within SHUTDOWN_TIMEOUT_SECONDS although the
span flush cannot succeed, and every log line is JSON.
Usage: .venv/bin/python tools/checks/telemetry_exporter_down.py --bin .build/release/pd-inference
"""
import argparse
import time

from hardening_common import Checks, Server, call, free_port
from otlp_receiver import HangingReceiver, OTLPReceiver
from telemetry_common import (body_text, log_records, parse_prometheus, percentile, samples, scrape, traced_load,
                              wait_for)

COMMON = {
    "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    # One attempt waits at most 1 s; a batch is given up (and its spans counted dropped) after 2 s.
    "OTEL_EXPORTER_OTLP_TIMEOUT": "1000", "OTEL_BSP_EXPORT_TIMEOUT": "2000",
    "MAX_BATCH_SIZE": "8", "MAX_QUEUE_DELAY_MS": "2", "LOG_LEVEL": "info", "SHUTDOWN_DRAIN_SECONDS": "0",
    # With the collector down the shutdown flush cannot succeed; it must give up by this deadline.
    "SHUTDOWN_TIMEOUT_SECONDS": "3",
}


def counters(port):
    s = samples(parse_prometheus(body_text(scrape(port))))
    return (s.get(("pd_trace_spans_exported_total", frozenset())) or 0,
            s.get(("pd_trace_spans_dropped_total", frozenset())) or 0)


# For the collector-down runs: a span queue the load overflows many times over, so that the
# "queue full: drop and count, never wait" path runs during the measured load.
SMALL_QUEUE = 256


def spans_made(port):
    """Spans the server has ended so far: 3 per inference request (server, queue, execute) and 4 per
    batch (inference.batch, batch.assemble, model.run, batch.scatter)."""
    s = samples(parse_prometheus(body_text(scrape(port))))
    requests = sum(v for (name, labels), v in s.items() if name == "pd_inference_requests_total"
                   and dict(labels).get("outcome") == "success")
    batches = sum(v for (name, _), v in s.items() if name == "pd_inference_batches_total")
    return 3 * requests + 4 * batches


def run(binary, endpoint, requests, clients, checks, label, extra=None):
    server = Server(binary, env=dict(COMMON, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **(extra or {})))
    try:
        traced_load(server.port, "mlp", 50, clients)  # warm-up
        results, elapsed = traced_load(server.port, "mlp", requests, clients)
        statuses = sorted({r.status for r in results})
        rate = len(results) / elapsed
        p95 = percentile([r.latency for r in results], 0.95)
        print(f"  {label}: {len(results)} requests in {elapsed:.2f} s = {rate:.0f}/s, p95 {p95 * 1000:.1f} ms,"
              f" max {max(r.latency for r in results) * 1000:.1f} ms")
        checks.check(statuses == [200] and len(results) == requests,
                     f"{label}: all {requests} requests 200 ({statuses}, {[r.error for r in results if r.error][:2]})")
        started = time.monotonic()
        probes = [call(server.port, "GET", path, timeout=5).status for path in ("/readyz", "/metrics")]
        took = time.monotonic() - started
        checks.check(probes == [200, 200] and took < 1.0, f"{label}: /readyz and /metrics answer in {took * 1000:.0f} ms")
        return server, rate, p95
    except BaseException:
        server.close()
        raise


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    checks = Checks()

    receiver = OTLPReceiver()
    server, base_rate, base_p95 = run(args.bin, receiver.base_url, args.requests, args.clients, checks, "healthy")
    try:
        wait_for(lambda: counters(server.port)[0] >= 3 * args.requests, 20)
        exported, dropped = counters(server.port)
        checks.check(exported >= 3 * args.requests and dropped == 0,
                     f"healthy: spans exported ({exported:.0f}), none dropped ({dropped:.0f})")
        checks.check(server.stop() == 0, "healthy: exits 0 on SIGTERM")
    finally:
        server.close()
        receiver.stop()

    for label in ("refused", "hanging"):
        hanging = HangingReceiver() if label == "hanging" else None
        endpoint = hanging.base_url if hanging else f"http://127.0.0.1:{free_port()}"
        started_wall = time.time()
        server, rate, p95 = run(args.bin, endpoint, args.requests, args.clients, checks, label,
                                {"OTEL_BSP_MAX_QUEUE_SIZE": str(SMALL_QUEUE)})
        try:
            checks.check(rate >= base_rate / 4,
                         f"{label}: {rate:.0f} req/s is at least a quarter of the healthy {base_rate:.0f} req/s")
            bound = max(4 * base_p95, base_p95 + 0.5)
            checks.check(p95 <= bound, f"{label}: p95 {p95 * 1000:.1f} ms <= {bound * 1000:.1f} ms"
                         f" (healthy p95 {base_p95 * 1000:.1f} ms)")
            made = spans_made(server.port)
            # Everything ended is dropped except what sits in the queue or in the export in flight.
            floor = made - 2 * SMALL_QUEUE
            moved = wait_for(lambda: counters(server.port)[1] >= floor, 30, interval=0.25)
            exported, dropped = counters(server.port)
            checks.check(moved and made > 4 * SMALL_QUEUE,
                         f"{label}: pd_trace_spans_dropped_total rose to {dropped:.0f} of {made} spans made"
                         f" (at least {floor}: all but a queue of {SMALL_QUEUE} and one export batch)")
            checks.check(exported == 0, f"{label}: pd_trace_spans_exported_total stays 0 (got {exported:.0f})")
            if hanging:
                checks.check(hanging.connections >= 1 and hanging.bytes > 0,
                             f"hanging: the exporter connected ({hanging.connections} connections, {hanging.bytes} bytes)")
            # After the drop, requests still flow.
            again, _ = traced_load(server.port, "mlp", 50, 2)
            checks.check(sorted({r.status for r in again}) == [200], f"{label}: requests still 200 after spans were dropped")
            started = time.monotonic()
            status = server.stop(timeout=30)
            took = time.monotonic() - started
            print(f"  {label}: SIGTERM to exit {took:.1f} s, status {status}")
            checks.check(status == 0 and took < 3 + 5,
                         f"{label}: exits 0 within SHUTDOWN_TIMEOUT_SECONDS (3 s, +5 s slack) of SIGTERM"
                         f" (status {status}, {took:.1f} s)")
            log_records(server, checks, started_wall, label)
        finally:
            server.close()
            if hanging:
                hanging.stop()
    checks.finish("telemetry_exporter_down")


if __name__ == "__main__":
    main()
