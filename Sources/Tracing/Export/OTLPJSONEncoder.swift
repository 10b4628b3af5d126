import TelemetryCore

/// Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest` (OTLP specification, JSON
/// Protobuf Encoding): lowerCamelCase field names, trace and span ids as lowercase hex
/// strings, 64-bit integers as decimal strings, enums as integers.
public enum OTLPJSONEncoder {
    public static func encode(_ spans: [SpanData], resource: Resource, scope: InstrumentationScope) -> [UInt8] {
        var body = ByteBuffer(capacity: 600 * spans.count)
        for i in spans.indices { appendSpan(spans[i], to: &body) }
        let (head, tail) = envelope(resource: resource, scope: scope)
        return head + body.array() + tail
    }

    /// Appends `span` to the `spans` array being written in `out`, after a comma unless it is the
    /// first: spans appended one after another, between `envelope`'s head and tail, make the
    /// request, so a batch can be encoded span by span, as each ends, and framed when it is sent.
    package static func appendSpan(_ span: borrowing SpanData, to out: inout ByteBuffer) {
        let separator = out.isEmpty ? 0 : 1
        out.appendRaw(maxCount: separator + bound(span)) { cursor in
            if separator != 0 { cursor.write(UInt8(ascii: ",")) }
            writeSpan(span, to: &cursor)
        }
    }

    /// What goes before and after the spans written by `appendSpan`: the request with one
    /// resource and one scope, up to and from its `spans` array.
    package static func envelope(resource: Resource, scope: InstrumentationScope) -> (head: [UInt8], tail: [UInt8]) {
        var head: [UInt8] = []
        head.appendASCII("{\"resourceSpans\":[{\"resource\":{\"attributes\":")
        head.appendRaw(maxCount: bound(resource.attributes)) { writeAttributes(resource.attributes, to: &$0) }
        head.appendASCII("},\"scopeSpans\":[{\"scope\":{\"name\":")
        head.appendJSONString(scope.name)
        if let version = scope.version {
            head.appendASCII(",\"version\":")
            head.appendJSONString(version)
        }
        head.appendASCII("},\"spans\":[")
        return (head, Array("]}]}]}".utf8))
    }

    /// Most bytes `writeSpan` writes: the fixed text, every string escaped at its longest,
    /// numbers at their longest.
    static func bound(_ span: borrowing SpanData) -> Int {
        var n = 512 + string(span.name) + bound(span.attributes) + bound(span.context.traceState)
        for event in span.events { n += 96 + string(event.name) + bound(event.attributes) }
        for link in span.links { n += 192 + bound(link.context.traceState) + bound(link.attributes) }
        if case .error(let message?) = span.status { n += 16 + string(message) }
        return n
    }

    /// A quoted, escaped string at its longest.
    private static func string(_ s: String) -> Int { 2 + ByteCursor.maxJSONEscapedLength(s.utf8.count) }

    /// A trace state's header value at its longest; nothing is built for an empty one (most are).
    private static func bound(_ state: TraceState) -> Int { state.isEmpty ? 0 : string(state.description) }

    static func bound(_ attributes: SpanAttributes) -> Int {
        var n = 2
        for entry in attributes.entries {
            n += 32 + string(entry.key)
            switch entry.value {
            case .string(let s): n += 20 + string(s)
            case .int, .double, .bool: n += 24 + ByteFormat.maxDoubleLength
            case .stringArray(let values):
                n += 32
                for s in values { n += 20 + string(s) }
            }
        }
        return n
    }

    /// `{"traceId":…,"spanId":…` and, when there is one, `"traceState"`: how a span and a link begin.
    static func writeIdentity(_ context: TraceContext, to out: inout ByteCursor) {
        out.write("{\"traceId\":\"")
        out.writeHex(context.traceID)
        out.write("\",\"spanId\":\"")
        out.writeHex(context.spanID.value)
        out.write(UInt8(ascii: "\""))
        if !context.traceState.isEmpty {
            out.write(",\"traceState\":")
            out.writeJSONString(context.traceState.description)
        }
    }

    static func writeSpan(_ span: borrowing SpanData, to out: inout ByteCursor) {
        writeIdentity(span.context, to: &out)
        if let parent = span.parentSpanID {
            out.write(",\"parentSpanId\":\"")
            out.writeHex(parent.value)
            out.write(UInt8(ascii: "\""))
        }
        out.write(",\"flags\":")
        out.writeDecimal(UInt64(OTLPSpanFlags.value(span.context.flags, isRemote: span.parentIsRemote)))
        out.write(",\"name\":")
        out.writeJSONString(span.name)
        out.write(",\"kind\":")
        out.writeDecimal(UInt64(span.kind.rawValue))
        out.write(",\"startTimeUnixNano\":\"")
        out.writeDecimal(span.startTimeUnixNano)
        out.write("\",\"endTimeUnixNano\":\"")
        out.writeDecimal(span.endTimeUnixNano)
        out.write("\",\"attributes\":")
        writeAttributes(span.attributes, to: &out)
        if span.droppedAttributesCount > 0 {
            out.write(",\"droppedAttributesCount\":")
            out.writeDecimal(UInt64(span.droppedAttributesCount))
        }
        out.write(",\"events\":[")
        for (i, event) in span.events.enumerated() {
            if i > 0 { out.write(UInt8(ascii: ",")) }
            out.write("{\"timeUnixNano\":\"")
            out.writeDecimal(event.timeUnixNano)
            out.write("\",\"name\":")
            out.writeJSONString(event.name)
            out.write(",\"attributes\":")
            writeAttributes(event.attributes, to: &out)
            out.write(UInt8(ascii: "}"))
        }
        out.write(UInt8(ascii: "]"))
        if span.droppedEventsCount > 0 {
            out.write(",\"droppedEventsCount\":")
            out.writeDecimal(UInt64(span.droppedEventsCount))
        }
        out.write(",\"links\":[")
        for (i, link) in span.links.enumerated() {
            if i > 0 { out.write(UInt8(ascii: ",")) }
            writeIdentity(link.context, to: &out)
            out.write(",\"attributes\":")
            writeAttributes(link.attributes, to: &out)
            out.write(",\"flags\":")
            out.writeDecimal(UInt64(OTLPSpanFlags.value(link.context.flags, isRemote: link.context.isRemote)))
            out.write(UInt8(ascii: "}"))
        }
        out.write(UInt8(ascii: "]"))
        if span.droppedLinksCount > 0 {
            out.write(",\"droppedLinksCount\":")
            out.writeDecimal(UInt64(span.droppedLinksCount))
        }
        out.write(",\"status\":{")
        if case .error(let message?) = span.status {
            out.write("\"message\":")
            out.writeJSONString(message)
            out.write(UInt8(ascii: ","))
        }
        out.write("\"code\":")
        out.writeDecimal(UInt64(span.status.code))
        out.write("}}")
    }

    static func writeAttributes(_ attributes: SpanAttributes, to out: inout ByteCursor) {
        out.write(UInt8(ascii: "["))
        for (i, entry) in attributes.entries.enumerated() {
            if i > 0 { out.write(UInt8(ascii: ",")) }
            out.write("{\"key\":")
            out.writeJSONString(entry.key)
            out.write(",\"value\":")
            writeAnyValue(entry.value, to: &out)
            out.write(UInt8(ascii: "}"))
        }
        out.write(UInt8(ascii: "]"))
    }

    static func writeAnyValue(_ value: SpanAttribute, to out: inout ByteCursor) {
        switch value {
        case .string(let s):
            out.write("{\"stringValue\":")
            out.writeJSONString(s)
            out.write(UInt8(ascii: "}"))
        case .int(let i):
            out.write("{\"intValue\":\"")
            out.writeDecimal(i)
            out.write("\"}")
        case .double(let d):
            out.write("{\"doubleValue\":")
            out.writeJSONDouble(d)
            out.write(UInt8(ascii: "}"))
        case .bool(let b):
            out.write(b ? "{\"boolValue\":true}" : "{\"boolValue\":false}")
        case .stringArray(let values):
            out.write("{\"arrayValue\":{\"values\":[")
            for (i, s) in values.enumerated() {
                if i > 0 { out.write(UInt8(ascii: ",")) }
                out.write("{\"stringValue\":")
                out.writeJSONString(s)
                out.write(UInt8(ascii: "}"))
            }
            out.write("]}}")
        }
    }
}

extension ByteCursor {
    /// A JSON number, or the proto3 JSON strings "NaN", "Infinity", "-Infinity" (at most
    /// `ByteFormat.maxDoubleLength` bytes).
    mutating func writeJSONDouble(_ value: Double) {
        if value.isNaN {
            write("\"NaN\"")
        } else if value.isInfinite {
            write(value > 0 ? "\"Infinity\"" : "\"-Infinity\"")
        } else {
            writeDouble(value)
        }
    }
}

extension Array where Element == UInt8 {
    /// A JSON number, or the proto3 JSON strings "NaN", "Infinity", "-Infinity".
    mutating func appendJSONDouble(_ value: Double) {
        appendRaw(maxCount: ByteFormat.maxDoubleLength) { $0.writeJSONDouble(value) }
    }
}
