"""/metrics of the real server after traffic that includes failures and rejections.

One server (queue of 2, one worker, every request sampled, spans to an OTLP receiver) gets
200, 400 (bad JSON and a bad request line), 404 (unknown model), 405, 422, 503 (queue full) and 504
(a 1 µs `timeout` parameter). Then:
  - the counters equal what the client saw, per status code and per model outcome; every histogram
    is cumulative with +Inf == _count; the latency buckets are the documented ones;
  - `promtool check metrics` (parse and lint) is clean on the Prometheus text 0.0.4, plain and gzip;
  - prometheus_client's OpenMetrics parser accepts `Accept: application/openmetrics-text` output,
    with exemplars (trace_id 32 hex, span_id 16 hex, value inside its bucket) that name requests
    this client made and spans the receiver got; gzip decodes to the same families and values;
  - the 0.0.4 and OpenMetrics outputs describe the same families and series;
  - server spans of failed requests: status code attribute as answered, status ERROR only for 5xx;
  - every log line is JSON; one access line per request, at warning level for 503 and 504.
Usage: .venv/bin/python tools/checks/telemetry_metrics.py --bin .build/release/pd-inference
"""
import argparse
import json
import math
import subprocess
import threading
import time
from collections import Counter

from hardening_common import Checks, Server, call, exchange, infer_body
from otlp_receiver import OTLPReceiver
from telemetry_common import (HEX16, HEX32, INFER_ROUTE, access_lines, body_text, log_records,
                              new_traceparent, parse_openmetrics, parse_prometheus, parse_traceparent, samples,
                              scrape, wait_for)

LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf]
PROM_TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Lint complaints of `promtool check metrics` accepted on purpose, as (metric, complaint substring).
# Empty: every complaint fails the check. Add an entry only with the reason beside it.
ACCEPTED_LINT = []


class Traffic:
    """Every request sent, with its trace id, and the statuses seen."""

    def __init__(self, port):
        self.port = port
        self.sent = []  # (kind, model, status, trace id, response traceparent)
        self.lock = threading.Lock()

    def send(self, kind, model, path, body, method="POST", extra=None, timeout=30):
        trace_id, _, header = new_traceparent()
        headers = {"traceparent": header}
        headers.update(extra or {})
        r = call(self.port, method, path, body, headers=headers, timeout=timeout)
        with self.lock:
            self.sent.append((kind, model, r.status, trace_id, r.header("traceparent")))
        return r

    def count(self, status=None, model=None, kind=None):
        return sum(1 for k, m, s, _, _ in self.sent
                   if (status is None or s == status) and (model is None or m == model) and (kind is None or k == kind))


def drive(port, checks):
    t = Traffic(port)
    mlp = infer_body("mlp")
    for _ in range(30):
        t.send("infer", "mlp", "/v2/models/mlp/infer", mlp)
    for _ in range(3):
        t.send("infer", "mlp", "/v2/models/mlp/infer", b'{"inputs": [')                       # 400 bad JSON
        t.send("infer", "nope", "/v2/models/nope/infer", mlp)                                  # 404 unknown model
    wrong = json.loads(mlp)
    wrong["inputs"][0]["shape"] = [1, 783]
    wrong["inputs"][0]["data"] = wrong["inputs"][0]["data"][:783]
    for _ in range(2):
        t.send("infer", "mlp", "/v2/models/mlp/infer", json.dumps(wrong).encode())            # 422 shape
    late = json.loads(mlp)
    late["parameters"] = {"timeout": 1}  # Triton's per-request timeout, in microseconds
    for _ in range(3):
        t.send("infer", "mlp", "/v2/models/mlp/infer", json.dumps(late).encode())             # 504
    t.send("other", None, "/v2/models/mlp/infer", b"", method="GET")                           # 405
    # A request line the parser refuses: answered before routing (route="unmatched").
    bad = exchange(port, b"NOT A REQUEST\r\n\r\n", timeout=10)
    with t.lock:
        t.sent.append(("unmatched", None, bad.status, None, bad.header("traceparent")))

    # 503: bursts of large cnn requests at a queue of 2 with one worker.
    cnn = infer_body("cnn", rows=32)
    for burst in range(6):
        gate = threading.Barrier(40)

        def one():
            gate.wait()
            t.send("infer", "cnn", "/v2/models/cnn/infer", cnn, timeout=60)

        threads = [threading.Thread(target=one) for _ in range(40)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(90)
        if t.count(503, "cnn") >= 3:
            break
    statuses = Counter((m, s) for k, m, s, _, _ in t.sent if k == "infer")
    print("traffic:", dict(statuses), "| 405:", t.count(405), "| unmatched:", bad.status)
    checks.check(t.count(200, "mlp") == 30, "30 mlp requests answered 200")
    checks.check(t.count(400, "mlp") == 3, "bad JSON answered 400")
    checks.check(t.count(404, "nope") == 3, "unknown model answered 404")
    checks.check(t.count(422, "mlp") == 2, "wrong shape answered 422")
    checks.check(t.count(504, "mlp") == 3, "1 µs timeout parameter answered 504")
    checks.check(t.count(405) == 1, "GET on the infer route answered 405")
    checks.check(bad.status == 400, f"malformed request line answered 400 (got {bad.status})")
    checks.check(t.count(503, "cnn") >= 1, f"queue full answered 503 ({t.count(503, 'cnn')} times)")
    checks.check(t.count(model="cnn") == t.count(200, "cnn") + t.count(503, "cnn"), "cnn bursts got only 200 and 503")
    return t


def check_counters(port, t, checks):
    infer_sent = t.count(kind="infer")

    def settled():
        s = samples(parse_prometheus(body_text(scrape(port))))
        total = sum(v for (name, labels), v in s.items()
                    if name == "pd_http_requests_total" and dict(labels).get("route") == INFER_ROUTE
                    and dict(labels).get("method") == "POST")
        return s if total >= infer_sent else None

    s = wait_for(settled, 10) or samples(parse_prometheus(body_text(scrape(port))))

    def get(name, **labels):
        return s.get((name, frozenset(labels.items())))

    for code in (200, 400, 404, 422, 503, 504):
        checks.check(get("pd_http_requests_total", code=str(code), method="POST", route=INFER_ROUTE) == t.count(code, kind="infer"),
                     f"pd_http_requests_total{{code=\"{code}\",route=infer}} == {t.count(code, kind='infer')} requests answered {code}"
                     f" (got {get('pd_http_requests_total', code=str(code), method='POST', route=INFER_ROUTE)})")
    checks.check(get("pd_http_requests_total", code="405", method="GET", route=INFER_ROUTE) == 1,
                 "pd_http_requests_total counts the 405")
    unmatched = sum(v for (name, labels), v in s.items() if name == "pd_http_requests_total"
                    and dict(labels).get("route") == "unmatched" and dict(labels).get("code") == "400")
    checks.check(unmatched == 1, f"the malformed request counted with route=\"unmatched\", code=\"400\" (got {unmatched})")
    expected = {
        ("mlp", "success"): t.count(200, "mlp"),
        ("mlp", "invalid"): t.count(400, "mlp") + t.count(422, "mlp"),
        ("mlp", "timeout"): t.count(504, "mlp"),
        ("mlp", "rejected"): 0,
        ("cnn", "success"): t.count(200, "cnn"),
        ("cnn", "rejected"): t.count(503, "cnn"),
        ("digits", "success"): 0,
    }
    for (model, outcome), want in expected.items():
        got = get("pd_inference_requests_total", model=model, version="1", outcome=outcome)
        checks.check(got == want, f"pd_inference_requests_total{{model={model},outcome={outcome}}} == {want} (got {got})")
    nope = [k for k in s if k[0].startswith("pd_inference") and dict(k[1]).get("model") == "nope"]
    checks.check(not nope, "an unknown model name creates no series (bounded labels)")

    # Histograms: cumulative buckets, +Inf == _count, documented latency buckets.
    histogram_problems = []
    latency_families = ["pd_inference_request_duration_seconds", "pd_inference_queue_duration_seconds",
                        "pd_inference_compute_duration_seconds", "pd_http_request_duration_seconds"]
    families = parse_prometheus(body_text(scrape(port)))
    histogram_count = 0
    for family in families:
        if family.type != "histogram":
            continue
        series = {}
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = tuple(sorted(labels.items()))
            entry = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if sample.name.endswith("_bucket"):
                entry["buckets"].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
        for key, entry in series.items():
            histogram_count += 1
            bounds = [b for b, _ in entry["buckets"]]
            counts = [c for _, c in entry["buckets"]]
            where = f"{family.name}{dict(key)}"
            if bounds != sorted(bounds) or not bounds or bounds[-1] != math.inf:
                histogram_problems.append(f"{where}: bounds {bounds}")
            if any(b > a for a, b in zip(counts[1:], counts)):
                histogram_problems.append(f"{where}: buckets not cumulative {counts}")
            if counts and counts[-1] != entry["count"]:
                histogram_problems.append(f"{where}: +Inf {counts[-1]} != _count {entry['count']}")
            if entry["sum"] is None or entry["sum"] < 0 or (entry["count"] == 0 and entry["sum"] != 0):
                histogram_problems.append(f"{where}: _sum {entry['sum']}")
            if family.name in latency_families and bounds != LATENCY_BUCKETS:
                histogram_problems.append(f"{where}: latency buckets {bounds}")
            if family.name == "pd_inference_batch_size" and dict(key).get("model") == "cnn" \
                    and bounds != [1, 2, 4, 8, 16, 32, math.inf]:
                histogram_problems.append(f"{where}: batch-size buckets {bounds} (cnn max_batch_size 32)")
    checks.check(histogram_count > 10 and not histogram_problems,
                 f"{histogram_count} histogram series consistent" + (f": {histogram_problems[:5]}" if histogram_problems else ""))
    cnn_durations = get("pd_inference_request_duration_seconds_count", model="cnn", version="1")
    checks.check(cnn_durations is not None and cnn_durations >= t.count(200, "cnn"),
                 f"request duration counted for every successful cnn request ({cnn_durations})")


def promtool(text, label, checks):
    proc = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    output = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    complaints = [line for line in output.splitlines() if line.strip()]
    unexplained = [c for c in complaints if not any(m in c and why in c for m, why in ACCEPTED_LINT)]
    if proc.returncode not in (0, 3):
        checks.check(False, f"promtool check metrics parses {label} (exit {proc.returncode}): {output[:2000]}")
        return
    checks.check(not unexplained and proc.returncode in (0, 3) and (proc.returncode == 0 or complaints),
                 f"promtool check metrics clean on {label} (exit {proc.returncode}"
                 + (f"; lint: {unexplained}" if unexplained else "") + ")")
    for c in complaints:
        print("  promtool:", c)


def family_shape(families):
    """{(family name, type): {sample name -> set of label sets}} without _created samples."""
    shape = {}
    for family in families:
        by_sample = shape.setdefault((family.name, family.type), {})
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            # OpenMetrics writes le="1.0" where 0.0.4 writes le="1": compare the numbers.
            labels = {k: (str(float(v)) if k == "le" else v) for k, v in s.labels.items()}
            by_sample.setdefault(s.name, set()).add(frozenset(labels.items()))
    return shape


def check_expositions(port, t, receiver, checks):
    plain = scrape(port)
    checks.check(plain.status == 200 and plain.header("content-type") == PROM_TEXT,
                 f"default /metrics is {PROM_TEXT!r} (got {plain.header('content-type')!r})")
    checks.check(plain.header("content-encoding") is None, "no Content-Encoding without Accept-Encoding")
    text = body_text(plain)
    promtool(text, "the Prometheus text 0.0.4 after failures and rejections", checks)
    text_families = list(parse_prometheus(text))

    zipped = scrape(port, gzip_ok=True)
    checks.check(zipped.header("content-encoding") == "gzip" and zipped.body[:2] == b"\x1f\x8b",
                 "Accept-Encoding: gzip gives a gzip 0.0.4 body")
    zipped_text = body_text(zipped)
    promtool(zipped_text, "the gunzipped 0.0.4 body", checks)
    checks.check(family_shape(parse_prometheus(zipped_text)) == family_shape(text_families),
                 "gzip 0.0.4 has the same families and series as plain")

    accept = "application/openmetrics-text; version=1.0.0"
    om = scrape(port, accept=accept)
    checks.check(om.status == 200 and om.header("content-type") == OPENMETRICS,
                 f"Accept: {accept} gives {OPENMETRICS!r} (got {om.header('content-type')!r})")
    om_text = body_text(om)
    checks.check(om_text.endswith("# EOF\n"), "OpenMetrics body ends with '# EOF'")
    try:
        om_families = list(parse_openmetrics(om_text))
    except Exception as e:  # noqa: BLE001
        checks.check(False, f"prometheus_client's OpenMetrics parser accepts the output: {type(e).__name__}: {e}")
        return
    checks.check(len(om_families) >= 20, f"prometheus_client's OpenMetrics parser accepts {len(om_families)} families")
    om_zipped = scrape(port, accept=accept, gzip_ok=True)
    checks.check(om_zipped.header("content-encoding") == "gzip" and om_zipped.header("content-type") == OPENMETRICS,
                 "OpenMetrics with Accept-Encoding: gzip is gzip")
    try:
        zipped_families = list(parse_openmetrics(body_text(om_zipped)))
    except Exception as e:  # noqa: BLE001
        checks.check(False, f"gunzipped OpenMetrics parses: {type(e).__name__}: {e}")
        return
    checks.check(family_shape(zipped_families) == family_shape(om_families),
                 "gunzipped OpenMetrics has the same families and series as plain")
    stable = lambda fams: {k: v for k, v in samples(fams).items() if k[0].startswith("pd_inference_")}  # noqa: E731
    checks.check(stable(zipped_families) == stable(om_families) and stable(om_families),
                 "gunzipped OpenMetrics has the same pd_inference_* values as plain (no traffic in between)")

    # The same metrics in both formats: OpenMetrics counters drop _total from the family name.
    text_shape = {(name if ftype != "counter" else name + "_total", ftype): s
                  for (name, ftype), s in family_shape(text_families).items()}
    om_shape = {(name if ftype != "counter" else name + "_total", ftype): s
                for (name, ftype), s in family_shape(om_families).items()}
    checks.check(set(text_shape) == set(om_shape),
                 f"0.0.4 and OpenMetrics list the same families and types"
                 f" (only 0.0.4: {sorted(set(text_shape) - set(om_shape))}, only OM: {sorted(set(om_shape) - set(text_shape))})")
    differing = [k for k in text_shape if k in om_shape and text_shape[k] != om_shape[k]]
    checks.check(not differing, f"0.0.4 and OpenMetrics have the same series per family (differ: {differing[:5]})")

    # Exemplars.
    known_traces = {trace for _, _, _, trace, _ in t.sent if trace}
    known_traces |= {parse_traceparent(tp)[0] for _, _, _, _, tp in t.sent if parse_traceparent(tp)}
    exemplars = []
    problems = []
    for family in om_families:
        for s in family.samples:
            if s.exemplar is None:
                continue
            exemplars.append((family.name, s))
            labels = s.exemplar.labels
            if set(labels) != {"trace_id", "span_id"}:
                problems.append(f"{s.name}: exemplar labels {sorted(labels)}")
                continue
            if not HEX32.match(labels["trace_id"]) or not HEX16.match(labels["span_id"]):
                problems.append(f"{s.name}: exemplar ids {labels}")
            if labels["trace_id"] not in known_traces:
                problems.append(f"{s.name}: exemplar trace_id {labels['trace_id']} is no request of this check")
            if family.type != "histogram" or not s.name.endswith("_bucket"):
                problems.append(f"{s.name}: exemplar outside a histogram bucket")
                continue
            le = float(s.labels["le"])
            lower = max([float(o.labels["le"]) for o in family.samples
                         if o.name == s.name and o.labels.get("le") and float(o.labels["le"]) < le
                         and {k: v for k, v in o.labels.items() if k != "le"} == {k: v for k, v in s.labels.items() if k != "le"}],
                        default=-math.inf)
            if not lower < s.exemplar.value <= le:
                problems.append(f"{s.name}{s.labels}: exemplar value {s.exemplar.value} outside ({lower}, {le}]")
    print(f"  {len(exemplars)} exemplars, e.g. {exemplars[0][1].name}{exemplars[0][1].labels} {exemplars[0][1].exemplar}"
          if exemplars else "  no exemplars")
    checks.check(len(exemplars) >= 1, f"OpenMetrics exemplars parsed: {len(exemplars)}")
    checks.check(any(HEX32.match(s.exemplar.labels.get("trace_id", "")) for _, s in exemplars),
                 "an exemplar's trace_id is 32 lowercase hex digits")
    checks.check(not problems, f"every exemplar names a request of this check and lies in its bucket ({problems[:5]})")
    success_traces = {trace for k, m, st, trace, _ in t.sent if st == 200 and m == "mlp"}
    checks.check(any(name == "pd_inference_request_duration_seconds" and s.labels.get("model") == "mlp"
                     and s.exemplar.labels["trace_id"] in success_traces for name, s in exemplars),
                 "mlp request-duration buckets carry an exemplar of a successful mlp request")
    checks.check("trace_id=" not in text, "the 0.0.4 text carries no exemplars")

    # Each exemplar points at a span the collector received.
    want = {(s.exemplar.labels["trace_id"], s.exemplar.labels["span_id"]) for _, s in exemplars}
    got = wait_for(lambda: want <= {(x.trace_id, x.span_id) for x in receiver.spans()}, 20)
    missing = want - {(x.trace_id, x.span_id) for x in receiver.spans()}
    checks.check(got, f"every exemplar's (trace_id, span_id) is a span the OTLP receiver got (missing {sorted(missing)[:3]})")


def check_error_spans(t, receiver, checks):
    answered = [(s, trace, tp) for k, _, s, trace, tp in t.sent if k in ("infer", "other") and trace]
    want = {trace for _, trace, _ in answered}
    wait_for(lambda: want <= {x.trace_id for x in receiver.spans() if x.kind == 2}, 20)
    spans = receiver.spans()
    server_spans = {}
    for x in spans:
        if x.kind == 2:
            server_spans.setdefault(x.trace_id, []).append(x)
    problems = []
    for status, trace, tp in answered:
        mine = server_spans.get(trace, [])
        if len(mine) != 1:
            problems.append(f"{status} trace {trace}: {len(mine)} server spans")
            continue
        span = mine[0]
        if span.attributes.get("http.response.status_code") != status:
            problems.append(f"{status} trace {trace}: http.response.status_code {span.attributes.get('http.response.status_code')!r}")
        # HTTP semantic conventions, server spans: 5xx -> Error; 4xx -> left unset.
        if (span.status_code == 2) != (status >= 500):
            problems.append(f"{status} {span.name}: span status code {span.status_code}")
        if parse_traceparent(tp) is None or parse_traceparent(tp)[1] != span.span_id:
            problems.append(f"{status}: response traceparent {tp!r} does not name the server span {span.span_id}")
    for p in problems:
        print("  ", p)
    codes = Counter(status for status, _, _ in answered)
    checks.check(not problems, f"server spans of {dict(codes)}: status code attribute as answered, ERROR only for 5xx,"
                 f" response traceparent names them ({problems[:5]})")
    checks.check(not receiver.errors, f"every OTLP export decoded with opentelemetry-proto ({receiver.errors[:3]})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args = parser.parse_args()
    checks = Checks()
    started = time.time()
    receiver = OTLPReceiver()
    server = Server(args.bin, env={
        "MAX_QUEUE_SIZE": "2", "WORKER_THREADS": "1", "MAX_BATCH_SIZE": "32", "MAX_QUEUE_DELAY_MS": "2",
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url, "LOG_LEVEL": "info", "SHUTDOWN_DRAIN_SECONDS": "0"})
    try:
        t = drive(server.port, checks)
        check_counters(server.port, t, checks)
        check_expositions(server.port, t, receiver, checks)
        check_error_spans(t, receiver, checks)
        checks.check(all(e.path == "/v1/traces" for e in receiver.exports) and receiver.exports,
                     f"OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces appended ({sorted({e.path for e in receiver.exports})})")
        status = server.stop()
        checks.check(status == 0, f"server exits 0 on SIGTERM (got {status})")
        records = log_records(server, checks, started, "metrics server")
        lines = access_lines(records)
        problems = []
        for kind, _, status, trace, _ in t.sent:
            if kind == "unmatched":
                continue
            mine = lines.get(trace, [])
            if len(mine) != 1:
                problems.append(f"{status} trace {trace}: {len(mine)} access lines")
                continue
            want_level = "warning" if status in (503, 504) else "info"
            if mine[0].get("level") != want_level or str(mine[0].get("http.response.status_code")) != str(status):
                problems.append(f"{status}: level {mine[0].get('level')}, status {mine[0].get('http.response.status_code')}")
        checks.check(not problems, f"one access line per request with its trace_id, 503/504 at warning ({problems[:5]})")
    finally:
        server.close()
        receiver.stop()
    checks.finish("telemetry_metrics")


if __name__ == "__main__":
    main()
