"""A minimal OTLP/HTTP receiver on loopback for benchmarks: answers 200 to POST /v1/traces.

With --out FILE it appends each request body (gunzipped) as one JSON line: http/json bodies as they
are, http/protobuf bodies converted with opentelemetry-proto (which --out then needs).
Usage: python3 tools/otlp_sink.py --port 4318 [--out spans.jsonl] [--quiet]
"""
import argparse
import gzip
import http.server
import json
import threading


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if args.out:
                if self.headers.get("Content-Type", "").startswith("application/x-protobuf"):
                    from google.protobuf import json_format
                    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
                    document = json_format.MessageToDict(ExportTraceServiceRequest.FromString(body))
                else:
                    document = json.loads(body)
                with lock, open(args.out, "a") as f:
                    f.write(json.dumps(document) + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            if not args.quiet:
                super().log_message(*a)

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
