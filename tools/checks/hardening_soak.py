"""Soak: steady load at half of the measured capacity for a long time (see scripts/soak.sh).

Passes when every request succeeds, resident memory grows less than 5% from the warmed-up level
(median of the second minute, or of the second tenth of a shorter run) to the end (median of the
last minute or tenth), the open file descriptors are stable, and no warning or error is logged.
Prints a Markdown summary; --report writes the numbers as JSON too.
"""
import argparse
import json
import statistics
import time

from hardening_common import Checks, Server, infer_body, request_bytes
from hardening_load import LoadGenerator


def window(samples, start_fraction, end_fraction):
    n = len(samples)
    part = samples[int(n * start_fraction):max(int(n * end_fraction), int(n * start_fraction) + 1)]
    return part or samples[-1:]


def settled_fds(server, seconds=10):
    """The server's open descriptors once the count has not changed for a second (bounded)."""
    deadline = time.monotonic() + seconds
    last, since = server.open_fds(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = server.open_fds()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            break
    return last


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the measured capacity to offer")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--report")
    args = parser.parse_args()
    checks = Checks()
    # Defaults otherwise; the larger queue absorbs stalls caused by other work on a shared machine
    # (a 100 ms stall at several thousand requests per second would overflow 256 and count as errors).
    server = Server(args.bin, {"OTEL_TRACES_EXPORTER": "none", "MAX_QUEUE_SIZE": "4096"}, keep_info_lines=False)
    try:
        request = request_bytes("POST", f"/v2/models/{args.model}/infer", infer_body(args.model))
        sampler = lambda: (server.rss_bytes(), server.open_fds())
        capacity_run = LoadGenerator(server.port, request, sampler).closed_loop(connections=32, seconds=5)
        capacity = capacity_run.statuses.get(200, 0) / capacity_run.duration
        rate = args.fraction * capacity
        print(f"capacity {capacity:.0f} req/s; soaking at {rate:.0f} req/s for {args.minutes:g} min")
        seconds = args.minutes * 60
        started = time.time()
        # A fixed pool, all opened up front, so the server's descriptor count is constant by design.
        fds_before = settled_fds(server)
        # A fixed pool, all opened up front and used round robin: the connection count (and what
        # the server holds per connection) does not change during the run.
        soak = LoadGenerator(server.port, request, sampler, sample_every=1.0).open_loop(
            rate=rate, seconds=seconds, max_connections=512, warm=512)
        # Every client connection is closed now; the server's descriptors must be back where they were.
        fds_after = settled_fds(server)
        rss = soak.rss_samples
        fds = soak.fd_samples
        # Warmed-up level: the second minute (or second tenth); end level: the last minute (or tenth).
        tenth = min(60 / seconds, 0.1) if seconds >= 600 else 0.1
        warm = statistics.median(window(rss, tenth, 2 * tenth))
        end = statistics.median(window(rss, 1 - tenth, 1.0))
        growth = (end - warm) / warm * 100
        log_problems = [l for l in server.log_lines() if l.get("level") not in ("info", "debug", "trace")]
        print(soak.summary())
        checks.check(set(soak.statuses) == {200} and not soak.errors,
                     f"soak: every request answered 200 ({soak.statuses}, errors {soak.errors or 0})")
        # Sends the generator skipped (every connection busy during a stall) are a limit of the
        # client, not a server error; reported so a run on a busy machine is read with care.
        print(f"load: {soak.sent} sent, {soak.skipped} not sent for lack of a free connection "
              f"({soak.skipped / max(soak.sent + soak.skipped, 1) * 100:.2f}%)")
        checks.check(growth < 5.0, f"soak: resident memory {warm / 2**20:.1f} MiB warmed up -> {end / 2**20:.1f} MiB "
                                   f"at the end ({growth:+.2f}%, bound 5%)")
        checks.check(fds_after == fds_before, f"soak: open file descriptors stable ({fds_before} before the load, "
                                               f"{fds_after} after it; {min(fds)}-{max(fds)} with client connections open)")
        checks.check(not log_problems, f"soak: no warning or error logged ({len(log_problems)}: {log_problems[:2]})")
        checks.check(server.stop() == 0, "soak: server exits 0")
        report = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "minutes": args.minutes,
            "model": args.model, "capacity_rps": round(capacity, 1), "offered_rps": round(rate, 1),
            "sent": soak.sent, "not_sent": soak.skipped, "statuses": soak.statuses, "errors": soak.errors,
            "latency_ms": {str(p): round(soak.percentile(p) * 1000, 2) for p in (50, 90, 99, 99.9)},
            "latency_max_ms": round(max(soak.latencies, default=0) * 1000, 2),
            "rss_mib": {"warm": round(warm / 2**20, 2), "end": round(end / 2**20, 2), "min": round(min(rss) / 2**20, 2),
                        "max": round(max(rss) / 2**20, 2), "growth_percent": round(growth, 2)},
            "fds": {"before": fds_before, "after": fds_after, "min_during": min(fds), "max_during": max(fds)},
            "log_lines": server.lines_seen, "log_problems": len(log_problems),
            "rss_per_minute_mib": [round(statistics.median(rss[i:i + 60]) / 2**20, 2) for i in range(0, len(rss), 60)],
        }
        print(json.dumps(report, indent=2))
        if args.report:
            with open(args.report, "w") as f:
                json.dump(report, f, indent=2)
    finally:
        server.close()
    checks.finish(f"soak ({args.minutes:g} min at {args.fraction:g} of capacity)")


if __name__ == "__main__":
    main()
