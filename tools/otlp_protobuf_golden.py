"""Prints, as hex, the OTLP protobuf ExportTraceServiceRequest that opentelemetry-proto's reference
serializer makes for the span of Tests/TracingTests/OTLPExporterTests.swift `fixedSpan()`: the golden
bytes `protobufEncodingGolden` compares OTLPProtobufEncoder's output with.

Usage: .venv/bin/python tools/otlp_protobuf_golden.py
"""
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


def kv(key, **value):
    return KeyValue(key=key, value=AnyValue(**value))


def main():
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend([kv("service.name", string_value="pd-inference"),
                                               kv("service.version", string_value="1.2.3")])
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "pd-inference"
    scope_spans.scope.version = "1.2.3"
    span = scope_spans.spans.add()
    span.trace_id = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    span.span_id = bytes.fromhex("eee19b7ec3c1b174")
    span.trace_state = "congo=t61rcWkgMzE"
    span.parent_span_id = bytes.fromhex("eee19b7ec3c1b173")
    span.flags = 0x301  # sampled, parent remoteness known, parent remote
    span.name = "POST /v2/models/{model}/infer"
    span.kind = Span.SPAN_KIND_SERVER
    span.start_time_unix_nano = 1_544_712_660_000_000_000
    span.end_time_unix_nano = 1_544_712_661_000_000_000
    tags = AnyValue()
    tags.array_value.values.extend([AnyValue(string_value="a"), AnyValue(string_value='b"c')])
    span.attributes.extend([kv("http.request.method", string_value="POST"),
                            kv("http.response.status_code", int_value=200),
                            kv("ratio", double_value=0.5), kv("ok", bool_value=True),
                            KeyValue(key="tags", value=tags)])
    event = span.events.add()
    event.time_unix_nano = 1_544_712_660_500_000_000
    event.name = "exception"
    event.attributes.append(kv("exception.message", string_value="line1\nline2"))
    link = span.links.add()
    link.trace_id = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    link.span_id = bytes.fromhex("00f067aa0ba902b7")
    link.attributes.append(kv("member", int_value=1))
    link.flags = 0x301
    span.dropped_links_count = 2
    span.status.CopyFrom(Status(message="model failed", code=Status.STATUS_CODE_ERROR))
    print(request.SerializeToString().hex())


if __name__ == "__main__":
    main()
