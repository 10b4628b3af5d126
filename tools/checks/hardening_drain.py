"""Zero-loss drain on the real binary (see scripts/checks/hardening.sh).

1. Steady load, then SIGTERM: readiness turns 503 at once; for SHUTDOWN_DRAIN_SECONDS every request
   (keep-alive and new connections) succeeds; every request sent on a connection the server accepted
   completes with 200; no connection is reset after its request was sent (connections the server
   closed cleanly, or refused after the listener closed, are fine); the process exits 0.
2. SIGTERM while batches are running and queued and more requests are still arriving: all complete
   with 200 and the process exits 0.

The clients behave like careful real ones (urllib3): they honour `Connection: close` and do not
reuse a keep-alive connection the server already closed.
"""
import argparse
import errno
import re
import signal
import socket
import threading
import time
from datetime import datetime, timezone

from hardening_common import Checks, Closed, Server, call, connect, infer_body, peer_closed, read_response, request_bytes

DRAIN_SECONDS = 3.0


class Record:
    __slots__ = ("sent_at", "status", "error", "new_connection")

    def __init__(self, sent_at, status=None, error=None, new_connection=False):
        self.sent_at = sent_at
        self.status = status
        self.error = error
        self.new_connection = new_connection


class LoadWorker(threading.Thread):
    """Sends an inference request every `interval` seconds until the server stops accepting."""

    def __init__(self, port, keep_alive, interval, model, stop):
        super().__init__(daemon=True)
        self.port = port
        self.keep_alive = keep_alive
        self.interval = interval
        self.raw = request_bytes("POST", f"/v2/models/{model}/infer", infer_body(model))
        self.stop = stop
        self.records = []
        self.refused_at = None

    def run(self):
        sock = None
        leftover = b""
        next_at = time.time()
        while not self.stop.is_set():
            now = time.time()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += self.interval
            new = sock is None or peer_closed(sock)
            if new:
                if sock is not None:
                    sock.close()
                try:
                    sock = connect(self.port, timeout=20)
                    leftover = b""
                except ConnectionRefusedError:
                    self.refused_at = time.time()
                    return
                except OSError as error:
                    self.records.append(Record(time.time(), error=f"connect: {error}", new_connection=True))
                    return
            record = Record(time.time(), new_connection=new)
            self.records.append(record)
            try:
                sock.sendall(self.raw)
            except OSError as error:
                # The request never fully left: not a loss of an accepted request, but recorded.
                record.error = f"send: {errno.errorcode.get(error.errno, error)}"
                sock.close()
                sock = None
                continue
            try:
                response, leftover = read_response(sock, leftover)
                record.status = response.status
                if response.closes or not self.keep_alive:
                    sock.close()
                    sock = None
            except (Closed, OSError) as error:
                record.error = f"after send: {error}"
                sock.close()
                sock = None
        if sock is not None:
            sock.close()


class ReadinessProbe(threading.Thread):
    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port = port
        self.stop = stop
        self.samples = []

    def run(self):
        while not self.stop.is_set():
            at = time.time()
            try:
                self.samples.append((at, call(self.port, "GET", "/readyz", timeout=2).status))
            except (OSError, Closed):
                self.samples.append((at, None))
                if self.samples[-1][1] is None and len(self.samples) > 2 and self.samples[-2][1] is None:
                    return
            time.sleep(0.02)


def log_time(server, message):
    """Wall-clock time of the first log line with `msg` == message."""
    for line in server.log_lines():
        if line.get("msg") == message:
            return datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    return None


def steady_load_drain(checks, binary):
    server = Server(binary, {"SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS), "SHUTDOWN_TIMEOUT_SECONDS": "20"})
    stop = threading.Event()
    try:
        workers = [LoadWorker(server.port, keep_alive=i % 2 == 0, interval=0.02 if i % 4 < 2 else 0.05,
                              model="mlp" if i % 3 == 0 else "digits", stop=stop) for i in range(8)]
        probe = ReadinessProbe(server.port, stop)
        for w in workers:
            w.start()
        probe.start()
        time.sleep(2.0)
        sigterm_at = time.time()
        server.signal(signal.SIGTERM)
        for w in workers:
            w.join(timeout=DRAIN_SECONDS + 25)
        stop.set()
        probe.join(timeout=5)
        status = server.wait(30)
        closed_at = log_time(server, "listener closed")
        records = [r for w in workers for r in w.records]
        checks.check(status == 0, f"steady load: process exits 0 after SIGTERM (got {status})")
        checks.check(closed_at is not None, "steady load: the log says when the listener closed")
        closed_at = closed_at or sigterm_at + DRAIN_SECONDS
        drain = closed_at - sigterm_at
        checks.check(DRAIN_SECONDS - 0.3 <= drain <= DRAIN_SECONDS + 1.0,
                     f"steady load: listener closed {drain:.2f} s after SIGTERM (SHUTDOWN_DRAIN_SECONDS={DRAIN_SECONDS})")

        before = [r for r in records if r.sent_at < sigterm_at]
        during = [r for r in records if sigterm_at <= r.sent_at < closed_at]
        after = [r for r in records if r.sent_at >= closed_at]
        failed = lambda rs: [(round(r.sent_at - sigterm_at, 3), r.status, r.error) for r in rs if r.status != 200]
        checks.check(len(before) > 50 and not failed(before),
                     f"steady load: {len(before)} requests before SIGTERM all 200 {failed(before)[:5]}")
        during_new = sum(1 for r in during if r.new_connection)
        checks.check(len(during) > 50 and not failed(during),
                     f"steady load: {len(during)} requests during the drain period ({during_new} on new connections) "
                     f"all 200 {failed(during)[:5]}")
        checks.check(not failed(after),
                     f"steady load: {len(after)} requests sent on accepted connections after the listener closed "
                     f"all 200 {failed(after)[:5]}")
        resets = [r for r in records if r.error and r.error.startswith("after send")]
        checks.check(not resets, f"steady load: no connection reset or closed after its request was sent {resets[:3]}")
        refused = [w.refused_at for w in workers if w.refused_at]
        checks.check(all(t >= closed_at - 0.05 for t in refused),
                     f"steady load: connections are refused only after the listener closed ({len(refused)} workers stopped so)")

        ready_before = [s for t, s in probe.samples if t < sigterm_at]
        after_signal = [(t - sigterm_at, s) for t, s in probe.samples if t >= sigterm_at + 0.5 and t < closed_at]
        first_after = next(((round(t - sigterm_at, 3), s) for t, s in probe.samples if t >= sigterm_at), None)
        checks.check(ready_before and all(s == 200 for s in ready_before),
                     f"steady load: /readyz 200 before SIGTERM ({sorted(set(map(str, ready_before)))})")
        checks.check(after_signal and all(s == 503 for _, s in after_signal),
                     f"steady load: /readyz 503 from 0.5 s after SIGTERM until the listener closed "
                     f"(first probe after the signal: {first_after})")
        log = server.log()
        checks.check('"shutdown.clean":"true"' in log, "steady load: the log reports a clean shutdown")
    finally:
        stop.set()
        server.close()


def metric(text, name, model, extra=""):
    match = re.search(rf'^{name}{{[^}}]*model="{model}"[^}}]*{extra}[^}}]*}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


def in_flight_and_queued(checks, binary):
    # Full batches (one cnn request of 32 rows each) keep the one worker busy, enough of them for
    # about half a second whatever the build's speed (a debug build runs a batch ~100x slower than
    # a release one); behind them two small requests wait for company, which the drain cuts short.
    queue_delay_ms, busy_ms = 10_000, 500
    server = Server(binary, {"SHUTDOWN_DRAIN_SECONDS": "0", "SHUTDOWN_TIMEOUT_SECONDS": "60", "WORKER_THREADS": "1",
                             "MAX_BATCH_SIZE": "32", "MAX_QUEUE_DELAY_MS": str(queue_delay_ms), "LOG_LEVEL": "debug"})
    full = request_bytes("POST", "/v2/models/cnn/infer", infer_body("cnn", rows=32))
    small = request_bytes("POST", "/v2/models/cnn/infer", infer_body("cnn", rows=4))
    results = []
    lock = threading.Lock()

    def client(raw, rows):
        try:
            with connect(server.port, timeout=60) as sock:
                sock.sendall(raw)
                response, _ = read_response(sock)
                outputs = response.json()["outputs"] if response.status == 200 else None
                ok = outputs is not None and outputs[0]["shape"] == [rows, 10]
                with lock:
                    results.append((response.status, ok, None if response.status == 200 else response.body[:120]))
        except (OSError, Closed) as error:
            with lock:
                results.append((None, False, str(error)))

    try:
        # How long this binary takes for one full batch (its Server-Timing compute duration).
        with connect(server.port, timeout=60) as sock:
            sock.sendall(full)
            probe, _ = read_response(sock)
        timing = re.search(r"compute;dur=([0-9.]+)", probe.headers.get("server-timing", ""))
        batch_ms = max(float(timing.group(1)), 0.05) if probe.status == 200 and timing else 50.0
        fulls = min(600, max(10, int(busy_ms / batch_ms) + 1))

        def state():
            """(running batches, queued requests, full requests answered since the probe)"""
            text = call(server.port, "GET", "/metrics").body.decode()
            answered = (metric(text, "pd_inference_requests_total", "cnn", 'outcome="success"') or 0) - 1
            return (metric(text, "pd_inference_batches_in_flight", "cnn") or 0,
                    metric(text, "pd_inference_queue_depth", "cnn") or 0, answered)

        def wait_until(condition):
            deadline = time.time() + 20
            while time.time() < deadline:
                current = state()
                if condition(*current):
                    return current
                time.sleep(0.005)
            return state()

        first = [threading.Thread(target=client, args=(full, 32)) for _ in range(fulls)]
        for t in first:
            t.start()
        # The small ones go in once every full one is queued, running or answered: a small request
        # queued ahead of a full one would run at once (the full one cannot join its batch).
        wait_until(lambda running, queued, answered: running + queued + answered >= fulls)
        smalls = [threading.Thread(target=client, args=(small, 4)) for _ in range(2)]
        for t in smalls:
            t.start()
        first += smalls
        # Wait until a batch runs and both small ones wait behind the full ones still queued.
        running, queued, answered = wait_until(
            lambda running, queued, answered: running >= 1 and queued >= fulls - answered - running + 2)
        checks.check(running >= 1 and queued >= 2,
                     f"in-flight drain: at SIGTERM {running:.0f} batch running, {queued:.0f} queued "
                     f"({fulls} full batches of {batch_ms:.2f} ms each sent)")
        # Requests still arriving (being received, decoded) as the signal lands.
        late = [threading.Thread(target=client, args=(small, 4)) for _ in range(4)]
        for t in late:
            t.start()
        time.sleep(0.005)
        server.signal(signal.SIGTERM)
        for t in first + late:
            t.join(timeout=70)
        status = server.wait(70)
        statuses = sorted(str(s) for s, _, _ in results)
        problems = [r for r in results if r[0] != 200 or not r[1]]
        counts = {s: statuses.count(s) for s in set(statuses)}
        total = len(first) + len(late)
        checks.check(len(results) == total and not problems,
                     f"in-flight drain: all {total} requests completed with 200 and full outputs ({counts}; {problems[:2]})")
        checks.check(status == 0, f"in-flight drain: process exits 0 (got {status})")
        lines = server.log_lines()
        stopped = next((l for l in lines if l.get("msg") == "stopped"), {})
        checks.check(stopped.get("shutdown.clean") == "true", "in-flight drain: the log reports a clean shutdown")
        duration = int(stopped.get("shutdown.duration_ms", "999999"))
        triggers = sorted({l.get("batch.trigger") for l in lines if l.get("msg") == "batch executed"})
        checks.check("drain" in triggers and duration < queue_delay_ms * 0.8,
                     f"in-flight drain: the partial batch ran at once on drain (triggers {triggers}; "
                     f"shutdown took {duration} ms, queue delay {queue_delay_ms} ms)")
    finally:
        server.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args = parser.parse_args()
    checks = Checks()
    steady_load_drain(checks, args.bin)
    in_flight_and_queued(checks, args.bin)
    checks.finish("zero-loss drain")


if __name__ == "__main__":
    main()
