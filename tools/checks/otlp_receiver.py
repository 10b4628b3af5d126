"""OTLP/HTTP trace receivers on loopback for the telemetry checks.

`OTLPReceiver` answers POSTs the way an OpenTelemetry Collector's OTLP/HTTP receiver does and decodes
every body with the official protobuf messages (PyPI `opentelemetry-proto`), by its Content-Type:
- `application/x-protobuf` (http/protobuf): parsed as `ExportTraceServiceRequest`; the body must hold
  no unknown fields and be byte-for-byte what the reference serializer writes for the parsed message
  (fields in number order, proto3 defaults left out);
- `application/json` (http/json): checked against the OTLP/JSON rules (lowerCamelCase keys, trace and
  span ids as hex, enums as integers), then parsed with `google.protobuf.json_format`, rejecting
  unknown fields.
A body that breaks a rule gets 400 and is recorded in `errors`.

`HangingReceiver` accepts connections and reads what arrives but never answers, like a collector
stuck behind a dead load balancer.

Standalone (to look at what the server sends):
  .venv/bin/python tools/checks/otlp_receiver.py --port 4318 [--hang]
"""
import argparse
import base64
import gzip
import http.server
import json
import re
import socket
import threading
import time

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")
HEX_FIELDS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}
ENUM_FIELDS = {"kind", "code"}


class OTLPFormatError(Exception):
    pass


def otlp_protobuf_to_proto(body):
    """Parses an http/protobuf body strictly (see the module doc) and returns the ExportTraceServiceRequest."""
    message = ExportTraceServiceRequest.FromString(body)
    known = ExportTraceServiceRequest()
    known.CopyFrom(message)
    known.DiscardUnknownFields()
    canonical = known.SerializeToString()
    if canonical != body:
        raise OTLPFormatError("protobuf body has unknown fields or is not in canonical form "
                              f"({len(body)} bytes, {len(canonical)} when re-serialized)")
    return message


def otlp_json_to_proto(document):
    """Checks the OTLP/JSON encoding rules (opentelemetry-proto docs/specification.md, "JSON Protobuf
    Encoding") and returns the ExportTraceServiceRequest. Raises OTLPFormatError or ParseError."""

    def convert(node, path):
        if isinstance(node, list):
            return [convert(item, f"{path}[{i}]") for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, item in node.items():
            where = f"{path}.{key}"
            if not CAMEL.match(key):
                raise OTLPFormatError(f"{where}: key is not lowerCamelCase")
            if key in HEX_FIELDS:
                if not isinstance(item, str):
                    raise OTLPFormatError(f"{where}: {item!r} is not a string")
                if key == "parentSpanId" and item == "":
                    out[key] = ""
                    continue
                if len(item) != HEX_FIELDS[key] or not re.fullmatch(r"[0-9a-fA-F]+", item):
                    raise OTLPFormatError(f"{where}: {item!r} is not {HEX_FIELDS[key]} hex digits")
                if int(item, 16) == 0:
                    raise OTLPFormatError(f"{where}: all-zero id")
                # json_format expects the proto3 JSON form of bytes (base64); OTLP/JSON uses hex.
                out[key] = base64.b64encode(bytes.fromhex(item)).decode()
            elif key in ENUM_FIELDS and not isinstance(item, int):
                raise OTLPFormatError(f"{where}: enum {item!r} is not an integer")
            else:
                out[key] = convert(item, where)
        return out

    message = ExportTraceServiceRequest()
    json_format.ParseDict(convert(document, "$"), message, ignore_unknown_fields=False)
    return message


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


class Span:
    """A received span, flattened, ids as lowercase hex."""

    def __init__(self, span, resource, scope):
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_span_id = span.parent_span_id.hex()
        self.name = span.name
        self.kind = span.kind
        self.start = span.start_time_unix_nano
        self.end = span.end_time_unix_nano
        self.attributes = attributes(span.attributes)
        self.links = [(link.trace_id.hex(), link.span_id.hex()) for link in span.links]
        self.status_code = span.status.code
        self.resource = resource
        self.scope = scope

    def __repr__(self):
        return f"<{self.name} {self.trace_id}/{self.span_id} parent={self.parent_span_id or '-'}>"


class Export:
    """One POST the receiver answered."""

    def __init__(self, path, headers, message):
        self.path = path
        self.headers = headers
        self.message = message


class OTLPReceiver:
    """Collects decoded exports in memory; answers 200 with an empty ExportTraceServiceResponse."""

    def __init__(self, port=0):
        self.exports = []
        self.errors = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    if "content-length" not in headers:
                        raise OTLPFormatError("no Content-Length")
                    body = self.rfile.read(int(headers["content-length"]))
                    if headers.get("content-encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    elif headers.get("content-encoding", "identity").lower() != "identity":
                        raise OTLPFormatError(f"Content-Encoding {headers['content-encoding']!r}")
                    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
                    if content_type == "application/x-protobuf":
                        message = otlp_protobuf_to_proto(body)
                    elif content_type == "application/json":
                        message = otlp_json_to_proto(json.loads(body))
                    else:
                        raise OTLPFormatError(f"Content-Type {headers.get('content-type')!r}, "
                                              "not application/x-protobuf or application/json")
                except Exception as e:  # noqa: BLE001 -- every failure is a finding for the check
                    with receiver.lock:
                        receiver.errors.append(f"{self.path}: {type(e).__name__}: {e}")
                    self._answer(400, b'{"message":"bad request"}')
                    return
                with receiver.lock:
                    receiver.exports.append(Export(self.path, headers, message))
                self._answer(200, b"{}")

            def _answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def spans(self):
        out = []
        with self.lock:
            exports = list(self.exports)
        for export in exports:
            for rs in export.message.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append(Span(span, resource, ss.scope.name))
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class HangingReceiver:
    """Accepts and reads, never answers. Counts connections and bytes."""

    def __init__(self, port=0):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.bytes = 0
        self.open = []
        self.stopping = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        while not self.stopping:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.bytes += len(chunk)

    def stop(self):
        self.stopping = True
        self.listener.close()
        with self.lock:
            for conn in self.open:
                try:
                    conn.close()
                except OSError:
                    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    if args.hang:
        HangingReceiver(args.port)
        print(f"hanging on 127.0.0.1:{args.port}")
        while True:
            time.sleep(3600)
    receiver = OTLPReceiver(args.port)
    print(f"receiving on {receiver.base_url}")
    seen = 0
    while True:
        time.sleep(1)
        spans = receiver.spans()
        for span in spans[seen:]:
            print(span.name, span.trace_id, span.span_id, span.parent_span_id, span.attributes, span.links)
        seen = len(spans)
        for error in receiver.errors:
            print("ERROR", error)
        receiver.errors.clear()


if __name__ == "__main__":
    main()
