"""End-to-end traces of the real server into a real OTLP/HTTP receiver (tools/checks/otlp_receiver.py,
decoding with the official opentelemetry-proto messages), under load from concurrent clients.

The server exports to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a non-default path) with gzip,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, sampling always_on.
Checked:
  - every export: the configured path, the encoding's Content-Type (http/protobuf by default,
    --protocol http/json for JSON), gzip, the configured headers (percent-decoded), a valid
    ExportTraceServiceRequest (strict parsing, see otlp_receiver.py) with the configured resource
    attributes;
  - every request (each with its own traceparent): exactly one server span (child of the caller's
    span, the id the response's traceparent names, HTTP attributes) -> inference.queue ->
    inference.execute, in the caller's trace, nested in time; the execute span links to exactly one
    inference.batch span that arrived, and that batch links back to the request's server span;
  - every inference.batch: its links are member requests of this run, its size and request-count
    attributes equal its links, its children are batch.assemble, model.run, batch.scatter;
  - pd_trace_spans_exported_total equals the spans received, pd_trace_spans_dropped_total is 0;
  - an OpenTelemetry Python SDK client span propagated with opentelemetry.propagate.inject: the
    response's traceparent (extracted with the SDK's propagator) and the server's access log line
    carry its trace id, and the server span is its child;
  - every log line is JSON (ts, level, msg); one access line per request with its trace and server
    span ids; the OTLP header secret never appears in the log.
Usage: .venv/bin/python tools/checks/telemetry_traces.py --bin .build/release/pd-inference [--protocol http/json]
"""
import argparse
import secrets
import time
import urllib.request

from hardening_common import Checks, Server, infer_body
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from otlp_receiver import OTLPReceiver
from telemetry_common import (INFER_ROUTE, SERVER_SPAN, access_lines, log_records, parse_traceparent, scrape,
                              body_text, parse_prometheus, samples, traced_load, wait_for)

SERVER, INTERNAL = 2, 1
TOLERANCE_NS = 1_000_000  # parent/child time nesting, for clock reads a few instructions apart


def sdk_client_requests(port, count, checks):
    """Requests sent by an OpenTelemetry SDK client span; returns [(sdk span, response traceparent, status)]."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("pd-inference-telemetry-check")
    out = []
    for i in range(count):
        with tracer.start_as_current_span(f"client infer {i}", kind=trace.SpanKind.CLIENT) as span:
            headers = {"Content-Type": "application/json"}
            propagate.inject(headers)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/mlp/infer",
                                             data=infer_body("mlp"), headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                out.append((span, response.headers.get("traceparent"), response.status, headers.get("traceparent")))
    provider.shutdown()
    checks.check(len(exporter.get_finished_spans()) == count, f"the SDK recorded its {count} client spans")
    return out


def check_exports(receiver, expected_headers, service_name, resource_attributes, content_type, checks):
    exports = list(receiver.exports)
    checks.check(exports, f"the receiver got {len(exports)} OTLP exports")
    paths = {e.path for e in exports}
    checks.check(paths == {"/otlp/v1/traces"}, f"exports go to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT's path ({sorted(paths)})")
    encodings = {e.headers.get("content-encoding") for e in exports}
    checks.check(encodings == {"gzip"}, f"OTEL_EXPORTER_OTLP_COMPRESSION=gzip: every export gzip ({encodings})")
    wrong = [(k, e.headers.get(k)) for e in exports for k, v in expected_headers.items() if e.headers.get(k) != v]
    checks.check(not wrong, f"OTEL_EXPORTER_OTLP_HEADERS arrive as HTTP headers, percent-decoded ({wrong[:3]})")
    types = {e.headers.get("content-type") for e in exports}
    checks.check(types == {content_type}, f"every export is {content_type} ({types})")
    checks.check(not receiver.errors, f"every export is a valid ExportTraceServiceRequest ({receiver.errors[:3]})")
    problems = []
    for e in exports:
        for rs in e.message.resource_spans:
            attrs = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
            if attrs.get("service.name") != service_name:
                problems.append(f"service.name {attrs.get('service.name')!r}")
            for k, v in resource_attributes.items():
                if attrs.get(k) != v:
                    problems.append(f"{k} {attrs.get(k)!r} != {v!r}")
            if not attrs.get("service.version"):
                problems.append("no service.version")
            for ss in rs.scope_spans:
                if not ss.scope.name:
                    problems.append("empty instrumentation scope name")
    checks.check(not problems, f"resource: service.name={service_name!r}, OTEL_RESOURCE_ATTRIBUTES, service.version"
                 f" ({sorted(set(problems))[:5]})")


def check_request_traces(results, spans, checks):
    by_trace = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    by_id = {s.span_id: s for s in spans}
    checks.check(len(by_id) == len(spans), f"{len(spans)} spans received, span ids unique")
    batches = {s.span_id: s for s in spans if s.name == "inference.batch"}
    problems = []
    execute_batch = {}  # server span id -> batch span id its execute span links to
    for r in results:
        mine = by_trace.get(r.trace_id, [])
        names = sorted(s.name for s in mine)
        if names != sorted([SERVER_SPAN, "inference.queue", "inference.execute"]):
            problems.append(f"trace {r.trace_id}: spans {names}")
            continue
        server = next(s for s in mine if s.name == SERVER_SPAN)
        queue = next(s for s in mine if s.name == "inference.queue")
        execute = next(s for s in mine if s.name == "inference.execute")
        if server.parent_span_id != r.parent_id:
            problems.append(f"trace {r.trace_id}: server parent {server.parent_span_id} != caller span {r.parent_id}")
        if server.span_id != r.server_span_id:
            problems.append(f"trace {r.trace_id}: response traceparent {r.response_traceparent} != server span {server.span_id}")
        if queue.parent_span_id != server.span_id:
            problems.append(f"trace {r.trace_id}: queue parent {queue.parent_span_id} != server {server.span_id}")
        if execute.parent_span_id != queue.span_id:
            problems.append(f"trace {r.trace_id}: execute parent {execute.parent_span_id} != queue {queue.span_id}")
        if (server.kind, queue.kind, execute.kind) != (SERVER, INTERNAL, INTERNAL):
            problems.append(f"trace {r.trace_id}: kinds {server.kind}, {queue.kind}, {execute.kind}")
        want = {"http.request.method": "POST", "http.route": INFER_ROUTE, "url.path": "/v2/models/mlp/infer",
                "http.response.status_code": 200}
        got = {k: server.attributes.get(k) for k in want}
        if got != want:
            problems.append(f"trace {r.trace_id}: server attributes {got}")
        want = {"inference.model.name": "mlp", "inference.model.version": "1"}
        got = {k: execute.attributes.get(k) for k in want}
        if got != want:
            problems.append(f"trace {r.trace_id}: execute attributes {got}")
        if any(s.status_code == 2 for s in mine):
            problems.append(f"trace {r.trace_id}: a span of a 200 has status ERROR")
        for child, parent in ((queue, server), (execute, server), (execute, queue)):
            if child is execute and parent is queue:
                ok = execute.start + TOLERANCE_NS >= queue.start
            else:
                ok = child.start + TOLERANCE_NS >= parent.start and child.end <= parent.end + TOLERANCE_NS
            if not ok or child.end < child.start:
                problems.append(f"trace {r.trace_id}: {child.name} [{child.start}, {child.end}] not within"
                                f" {parent.name} [{parent.start}, {parent.end}]")
        if len(execute.links) != 1:
            problems.append(f"trace {r.trace_id}: execute has {len(execute.links)} links")
            continue
        link_trace, link_span = execute.links[0]
        batch = batches.get(link_span)
        if batch is None or batch.trace_id != link_trace:
            problems.append(f"trace {r.trace_id}: execute links to {link_trace}/{link_span}, no inference.batch span arrived")
            continue
        if execute.attributes.get("inference.batch.id") != batch.attributes.get("inference.batch.id"):
            problems.append(f"trace {r.trace_id}: inference.batch.id {execute.attributes.get('inference.batch.id')}"
                            f" != batch's {batch.attributes.get('inference.batch.id')}")
        if abs(execute.start - batch.start) > 5 * TOLERANCE_NS or abs(execute.end - batch.end) > 5 * TOLERANCE_NS:
            problems.append(f"trace {r.trace_id}: execute [{execute.start}, {execute.end}] not timed to its batch"
                            f" [{batch.start}, {batch.end}]")
        execute_batch[server.span_id] = batch.span_id
    for p in problems[:10]:
        print("  ", p)
    checks.check(not problems, f"all {len(results)} requests: server -> inference.queue -> inference.execute in the caller's"
                 f" trace, parents, kinds, attributes, nesting, one link to an arrived inference.batch"
                 f" ({len(problems)} problems)")

    # Batches: links back to members, attributes, children.
    server_spans = {s.span_id: s for s in spans if s.name == SERVER_SPAN}
    request_servers = {r.server_span_id for r in results}
    linked_by = {}
    problems = []
    children = {}
    for s in spans:
        if s.parent_span_id in batches:
            children.setdefault(s.parent_span_id, []).append(s)
    for batch in batches.values():
        links = batch.links
        for link_trace, link_span in links:
            target = server_spans.get(link_span)
            if target is None or target.trace_id != link_trace:
                problems.append(f"batch {batch.span_id}: link {link_trace}/{link_span} is no server span that arrived")
                continue
            linked_by.setdefault(link_span, []).append(batch.span_id)
        size, count = batch.attributes.get("inference.batch.size"), batch.attributes.get("inference.batch.requests")
        if count != len(links) or size != len(links):  # one row per request in this load
            problems.append(f"batch {batch.span_id}: size {size}, requests {count}, {len(links)} links")
        if batch.attributes.get("inference.model.name") not in ("mlp",):
            problems.append(f"batch {batch.span_id}: model {batch.attributes.get('inference.model.name')}")
        if batch.attributes.get("inference.batch.trigger") not in ("full", "delay", "drain"):
            problems.append(f"batch {batch.span_id}: trigger {batch.attributes.get('inference.batch.trigger')}")
        if batch.parent_span_id:
            problems.append(f"batch {batch.span_id}: has parent {batch.parent_span_id}")
        kids = children.get(batch.span_id, [])
        if sorted(k.name for k in kids) != ["batch.assemble", "batch.scatter", "model.run"]:
            problems.append(f"batch {batch.span_id}: children {sorted(k.name for k in kids)}")
        for k in kids:
            if k.trace_id != batch.trace_id or k.start + TOLERANCE_NS < batch.start or k.end > batch.end + TOLERANCE_NS:
                problems.append(f"batch {batch.span_id}: child {k.name} outside the batch's trace or time")
    for server_id in request_servers:
        if linked_by.get(server_id, []) != [execute_batch.get(server_id)]:
            problems.append(f"server span {server_id}: linked by batches {linked_by.get(server_id)},"
                            f" its execute links {execute_batch.get(server_id)}")
    for p in problems[:10]:
        print("  ", p)
    sizes = sorted(len(b.links) for b in batches.values())
    checks.check(batches and not problems,
                 f"{len(batches)} inference.batch spans (sizes {sizes[0] if sizes else 0}..{sizes[-1] if sizes else 0}):"
                 f" each links to its member requests' server spans and back, with assemble/run/scatter children"
                 f" ({len(problems)} problems)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--protocol", choices=["http/protobuf", "http/json"],
                        help="set OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (default: unset, which means http/protobuf)")
    args = parser.parse_args()
    checks = Checks()
    started = time.time()
    receiver = OTLPReceiver()
    secret = "sekrit-" + secrets.token_hex(6)
    run = secrets.token_hex(4)
    service_name = "pd-inference-check"
    headers = {"x-check-tenant": "acme", "authorization": f"Bearer {secret}"}
    resource = {"deployment.environment": "ci", "check.run": run, "check.note": "a b,c"}
    env = {
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.base_url + "/otlp/v1/traces",
        # Must not be used: the signal-specific endpoint wins.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/unused",
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-check-tenant=acme,authorization=Bearer%20{secret}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment=ci,check.run={run},check.note=a%20b%2Cc",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # The receiver here is Python; leave room so a slow decode cannot overflow the span queue.
        "OTEL_BSP_MAX_QUEUE_SIZE": "16384",
        "MAX_BATCH_SIZE": "8", "MAX_QUEUE_DELAY_MS": "2", "LOG_LEVEL": "info", "SHUTDOWN_DRAIN_SECONDS": "0",
    }
    if args.protocol:
        env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = args.protocol
    content_type = "application/json" if args.protocol == "http/json" else "application/x-protobuf"
    print(f"  OTLP encoding: {args.protocol or 'default (http/protobuf)'}")
    server = Server(args.bin, env=env)
    try:
        results, elapsed = traced_load(server.port, "mlp", args.requests, args.clients)
        statuses = sorted({r.status for r in results})
        print(f"  load: {len(results)} requests from {args.clients} clients in {elapsed:.2f} s")
        checks.check(len(results) == args.requests and statuses == [200],
                     f"{args.requests} traced requests from {args.clients} clients all 200 ({statuses},"
                     f" errors {[r.error for r in results if r.error][:2]})")
        bad_tp = [r for r in results if (parse_traceparent(r.response_traceparent) or (None,))[0] != r.trace_id
                  or r.server_span_id == r.parent_id]
        checks.check(not bad_tp, f"every response's traceparent has the caller's trace id and a new span id ({len(bad_tp)} bad)")

        sdk = sdk_client_requests(server.port, 3, checks)
        propagator = TraceContextTextMapPropagator()
        sdk_ok = []
        for span, response_tp, status, sent_tp in sdk:
            sc = span.get_span_context()
            trace_id, span_id = format(sc.trace_id, "032x"), format(sc.span_id, "016x")
            extracted = trace.get_current_span(propagator.extract({"traceparent": response_tp or ""})).get_span_context()
            sdk_ok.append(status == 200 and sent_tp and sent_tp.split("-")[1:3] == [trace_id, span_id]
                          and extracted.is_valid and extracted.trace_id == sc.trace_id and extracted.span_id != sc.span_id)
        checks.check(all(sdk_ok) and sdk, "OpenTelemetry SDK client: inject() sent its span as traceparent; the response's"
                     " traceparent (SDK extract) has its trace id and a server span id")

        sdk_traces = {format(s.get_span_context().trace_id, "032x"): format(s.get_span_context().span_id, "016x")
                      for s, _, _, _ in sdk}
        want = {r.trace_id for r in results} | set(sdk_traces)

        def complete():
            spans = receiver.spans()
            per = {}
            for s in spans:
                if s.name == "inference.execute":
                    per[s.trace_id] = s.links
            linked = {l[1] for links in per.values() for l in links}
            have = {s.span_id for s in spans if s.name == "inference.batch"}
            return want <= set(per) and linked <= have

        arrived = wait_for(complete, 30, interval=0.25)
        checks.check(arrived, "every request's execute span and every linked batch span arrived within 30 s")
        spans = receiver.spans()
        check_exports(receiver, headers, service_name, resource, content_type, checks)
        check_request_traces(results, spans, checks)

        # SDK traces on the server side.
        problems = []
        for trace_id, client_span in sdk_traces.items():
            server_span = [s for s in spans if s.trace_id == trace_id and s.name == SERVER_SPAN]
            if len(server_span) != 1 or server_span[0].parent_span_id != client_span:
                problems.append(f"{trace_id}: server spans {server_span}")
        checks.check(not problems, f"the server span of each SDK request is the SDK client span's child ({problems[:2]})")

        # Counters against what arrived (the exported counter moves once the collector answered).
        def counters():
            s = samples(parse_prometheus(body_text(scrape(server.port))))
            return s.get(("pd_trace_spans_exported_total", frozenset())), s.get(("pd_trace_spans_dropped_total", frozenset()))

        wait_for(lambda: counters()[0] == len(receiver.spans()), 10)
        exported, dropped = counters()
        checks.check(exported == len(receiver.spans()),
                     f"pd_trace_spans_exported_total {exported} == spans the receiver decoded {len(receiver.spans())}")
        checks.check(dropped == 0, f"pd_trace_spans_dropped_total is 0 with a healthy collector (got {dropped})")

        status = server.stop()
        checks.check(status == 0, f"server exits 0 on SIGTERM (got {status})")
        spans = receiver.spans()
        checks.check(not receiver.errors, f"exports during shutdown decode too ({receiver.errors[:2]})")

        records = log_records(server, checks, started, "traced server")
        lines = access_lines(records)
        server_ids = {s.trace_id: s.span_id for s in spans if s.name == SERVER_SPAN}
        problems = []
        for trace_id in want:
            mine = lines.get(trace_id, [])
            if len(mine) != 1:
                problems.append(f"{trace_id}: {len(mine)} access lines")
                continue
            line = mine[0]
            if line.get("span_id") != server_ids.get(trace_id):
                problems.append(f"{trace_id}: span_id {line.get('span_id')} != server span {server_ids.get(trace_id)}")
            if (str(line.get("http.response.status_code")), line.get("http.route"), line.get("model.name"),
                    line.get("level")) != ("200", INFER_ROUTE, "mlp", "info"):
                problems.append(f"{trace_id}: {line}")
        checks.check(not problems, f"one info access line (msg 'request completed') per request, with its trace_id and"
                     f" the server span's span_id ({problems[:3]})")
        sdk_lines = [lines.get(t, [{}])[0].get("trace_id") for t in sdk_traces]
        checks.check(sdk_lines == list(sdk_traces), "the SDK client's trace ids are in the server's access log lines")
        checks.check(secret not in server.log(), "the OTLP header secret never appears in the log")
        startup = [r for r in records if r.get("msg") == "starting"]
        checks.check(startup and startup[0].get("setting.OTEL_EXPORTER_OTLP_HEADERS") == "********",
                     "the startup line masks OTEL_EXPORTER_OTLP_HEADERS")
    finally:
        server.close()
        receiver.stop()
    checks.finish("telemetry_traces")


if __name__ == "__main__":
    main()
