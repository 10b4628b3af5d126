/// Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest` (OTLP specification, JSON
/// Protobuf Encoding): lowerCamelCase field names, trace and span ids as lowercase hex
/// strings, 64-bit integers as decimal strings, enums as integers.
public enum OTLPJSONEncoder {
    // Span.flags (opentelemetry-proto trace.proto): bits 0–7 are the W3C trace flags; bit 8
    // says whether bit 9 (parent is remote) is known.
    static let contextHasIsRemote: UInt32 = 0x100
    static let contextIsRemote: UInt32 = 0x200

    public static func encode(_ spans: [SpanData], resource: Resource, scope: InstrumentationScope) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + spans.count * 600)
        out.appendASCII("{\"resourceSpans\":[{\"resource\":{\"attributes\":")
        appendAttributes(resource.attributes, to: &out)
        out.appendASCII("},\"scopeSpans\":[{\"scope\":{\"name\":")
        out.appendJSONString(scope.name)
        if let version = scope.version {
            out.appendASCII(",\"version\":")
            out.appendJSONString(version)
        }
        out.appendASCII("},\"spans\":[")
        for (i, span) in spans.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendSpan(span, to: &out)
        }
        out.appendASCII("]}]}]}")
        return out
    }

    static func appendSpan(_ span: SpanData, to out: inout [UInt8]) {
        out.appendASCII("{\"traceId\":\"")
        span.context.traceID.appendHex(to: &out)
        out.appendASCII("\",\"spanId\":\"")
        span.context.spanID.appendHex(to: &out)
        out.append(UInt8(ascii: "\""))
        if !span.context.traceState.isEmpty {
            out.appendASCII(",\"traceState\":")
            out.appendJSONString(span.context.traceState.description)
        }
        if let parent = span.parentSpanID {
            out.appendASCII(",\"parentSpanId\":\"")
            parent.appendHex(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        var flags = UInt32(span.context.flags.rawValue) | contextHasIsRemote
        if span.parentIsRemote { flags |= contextIsRemote }
        out.appendASCII(",\"flags\":")
        out.appendDecimal(UInt64(flags))
        out.appendASCII(",\"name\":")
        out.appendJSONString(span.name)
        out.appendASCII(",\"kind\":")
        out.appendDecimal(UInt64(span.kind.rawValue))
        out.appendASCII(",\"startTimeUnixNano\":\"")
        out.appendDecimal(span.startTimeUnixNano)
        out.appendASCII("\",\"endTimeUnixNano\":\"")
        out.appendDecimal(span.endTimeUnixNano)
        out.appendASCII("\",\"attributes\":")
        appendAttributes(span.attributes, to: &out)
        if span.droppedAttributesCount > 0 {
            out.appendASCII(",\"droppedAttributesCount\":")
            out.appendDecimal(UInt64(span.droppedAttributesCount))
        }
        out.appendASCII(",\"events\":[")
        for (i, event) in span.events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"timeUnixNano\":\"")
            out.appendDecimal(event.timeUnixNano)
            out.appendASCII("\",\"name\":")
            out.appendJSONString(event.name)
            out.appendASCII(",\"attributes\":")
            appendAttributes(event.attributes, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if span.droppedEventsCount > 0 {
            out.appendASCII(",\"droppedEventsCount\":")
            out.appendDecimal(UInt64(span.droppedEventsCount))
        }
        out.appendASCII(",\"links\":[")
        for (i, link) in span.links.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"traceId\":\"")
            link.context.traceID.appendHex(to: &out)
            out.appendASCII("\",\"spanId\":\"")
            link.context.spanID.appendHex(to: &out)
            out.append(UInt8(ascii: "\""))
            if !link.context.traceState.isEmpty {
                out.appendASCII(",\"traceState\":")
                out.appendJSONString(link.context.traceState.description)
            }
            var linkFlags = UInt32(link.context.flags.rawValue) | contextHasIsRemote
            if link.context.isRemote { linkFlags |= contextIsRemote }
            out.appendASCII(",\"attributes\":")
            appendAttributes(link.attributes, to: &out)
            out.appendASCII(",\"flags\":")
            out.appendDecimal(UInt64(linkFlags))
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if span.droppedLinksCount > 0 {
            out.appendASCII(",\"droppedLinksCount\":")
            out.appendDecimal(UInt64(span.droppedLinksCount))
        }
        out.appendASCII(",\"status\":{")
        if case .error(let message?) = span.status {
            out.appendASCII("\"message\":")
            out.appendJSONString(message)
            out.append(UInt8(ascii: ","))
        }
        out.appendASCII("\"code\":")
        out.appendDecimal(UInt64(span.status.code))
        out.appendASCII("}}")
    }

    static func appendAttributes(_ attributes: SpanAttributes, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, entry) in attributes.entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"key\":")
            out.appendJSONString(entry.key)
            out.appendASCII(",\"value\":")
            appendAnyValue(entry.value, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    static func appendAnyValue(_ value: SpanAttribute, to out: inout [UInt8]) {
        switch value {
        case .string(let s):
            out.appendASCII("{\"stringValue\":")
            out.appendJSONString(s)
            out.append(UInt8(ascii: "}"))
        case .int(let i):
            out.appendASCII("{\"intValue\":\"")
            out.appendDecimal(i)
            out.appendASCII("\"}")
        case .double(let d):
            out.appendASCII("{\"doubleValue\":")
            out.appendJSONDouble(d)
            out.append(UInt8(ascii: "}"))
        case .bool(let b):
            out.appendASCII(b ? "{\"boolValue\":true}" : "{\"boolValue\":false}")
        case .stringArray(let values):
            out.appendASCII("{\"arrayValue\":{\"values\":[")
            for (i, s) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.appendASCII("{\"stringValue\":")
                out.appendJSONString(s)
                out.append(UInt8(ascii: "}"))
            }
            out.appendASCII("]}}")
        }
    }
}

extension Array where Element == UInt8 {
    /// A JSON number, or the proto3 JSON strings "NaN", "Infinity", "-Infinity".
    mutating func appendJSONDouble(_ value: Double) {
        if value.isNaN {
            appendASCII("\"NaN\"")
        } else if value.isInfinite {
            appendASCII(value > 0 ? "\"Infinity\"" : "\"-Infinity\"")
        } else {
            appendUTF8(value.description)
        }
    }
}
