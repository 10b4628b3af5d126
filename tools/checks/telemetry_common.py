"""Shared by the telemetry checks (scripts/checks/telemetry.sh): traced load, metric scrapes, log lines.

Builds on hardening_common (the real binary on a free loopback port, raw HTTP/1.1). Every wait is
bounded; every socket has a timeout.
"""
import datetime
import gzip
import http.client
import json
import re
import secrets
import threading
import time

from hardening_common import call, infer_body
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics  # noqa: F401 (for the checks)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
LEVELS = {"trace", "debug", "info", "notice", "warning", "error", "critical"}
INFER_ROUTE = "/v2/models/{model}/infer"
SERVER_SPAN = "POST " + INFER_ROUTE


def new_traceparent():
    """(trace id, parent span id, header) for a fresh sampled W3C trace context."""
    trace_id = secrets.token_hex(16)
    span_id = secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def parse_traceparent(value):
    """(trace id, span id, flags) or None."""
    match = TRACEPARENT.match(value or "")
    return match.groups() if match else None


class Result:
    """One traced request: what was sent and what came back."""

    def __init__(self, trace_id, parent_id, status, latency, response_traceparent, error=None):
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.status = status
        self.latency = latency
        self.response_traceparent = response_traceparent
        self.error = error

    @property
    def server_span_id(self):
        """The span id the response's traceparent names (the server span)."""
        parsed = parse_traceparent(self.response_traceparent)
        return parsed[1] if parsed else None


def traced_load(port, model, total, clients, rows=1, timeout=30.0):
    """Sends `total` inference requests from `clients` keep-alive connections, each request with its
    own traceparent. Returns (results, elapsed seconds)."""
    body = infer_body(model, rows)
    path = f"/v2/models/{model}/infer"
    results = []
    lock = threading.Lock()
    counter = iter(range(total))
    start_gate = threading.Barrier(clients + 1)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        start_gate.wait()
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            trace_id, parent_id, header = new_traceparent()
            started = time.monotonic()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "traceparent": header})
                response = conn.getresponse()
                response.read()
                result = Result(trace_id, parent_id, response.status, time.monotonic() - started,
                                response.getheader("traceparent"))
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                result = Result(trace_id, parent_id, -1, time.monotonic() - started, None, error=repr(e))
            with lock:
                results.append(result)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    started = time.monotonic()
    for t in threads:
        t.join(timeout + 60)
    return results, time.monotonic() - started


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scrape(port, accept=None, gzip_ok=False):
    """GET /metrics; returns the hardening_common Response (body still encoded)."""
    headers = {}
    if accept:
        headers["Accept"] = accept
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    return call(port, "GET", "/metrics", headers=headers, timeout=10)


def body_text(response):
    body = response.body
    if (response.header("content-encoding") or "").lower() == "gzip":
        body = gzip.decompress(body)
    return body.decode("utf-8")


def samples(families):
    """{(sample name, frozenset(labels)): value} over parsed metric families."""
    out = {}
    for family in families:
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(port, name, **labels):
    """The current value of one sample of the 0.0.4 exposition, or None."""
    text = body_text(scrape(port))
    return samples(parse_prometheus(text)).get((name, frozenset(labels.items())))


def wait_for(predicate, timeout, interval=0.1):
    """Polls predicate() until it is truthy or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def parse_ts(ts):
    """An RFC 3339 UTC timestamp ("…T…Z", up to nanoseconds) as an aware datetime."""
    whole, _, fraction = ts[:-1].partition(".")
    when = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return when + datetime.timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


def log_records(server, checks, started_wall, label):
    """Every line the server wrote must be one JSON object with ts (RFC 3339 UTC, within the run),
    a known level and a string msg. Returns the parsed records."""
    records = []
    bad = []
    now = datetime.datetime.now(datetime.timezone.utc)
    earliest = datetime.datetime.fromtimestamp(started_wall - 5, datetime.timezone.utc)
    latest = now + datetime.timedelta(seconds=5)
    for number, line in enumerate(server.log().splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(f"line {number} is not JSON: {line[:200]!r}")
            continue
        if not isinstance(record, dict):
            bad.append(f"line {number} is not an object: {line[:200]!r}")
            continue
        ts, level, msg = record.get("ts"), record.get("level"), record.get("msg")
        if not (isinstance(ts, str) and TS.match(ts)):
            bad.append(f"line {number}: ts {ts!r} is not RFC 3339 UTC")
        else:
            when = parse_ts(ts)
            if not earliest <= when <= latest:
                bad.append(f"line {number}: ts {ts} is outside the run ({earliest.isoformat()} .. {latest.isoformat()})")
        if level not in LEVELS:
            bad.append(f"line {number}: level {level!r} is not one of {sorted(LEVELS)}")
        if not (isinstance(msg, str) and msg):
            bad.append(f"line {number}: msg {msg!r} is not a non-empty string")
        for key in ("trace_id", "span_id"):
            if key in record and not (HEX32 if key == "trace_id" else HEX16).match(str(record[key])):
                bad.append(f"line {number}: {key} {record[key]!r} is not lowercase hex of the right length")
        records.append(record)
    checks.check(records and not bad, f"{label}: all {len(records)} log lines are JSON objects with ts, level, msg"
                 + (f"; {len(bad)} bad, first: {bad[:3]}" if bad else ""))
    return records


def access_lines(records):
    """The access log lines (msg "request completed"), by trace id."""
    by_trace = {}
    for record in records:
        if record.get("msg") == "request completed" and "trace_id" in record:
            by_trace.setdefault(record["trace_id"], []).append(record)
    return by_trace
