import Logging
import Synchronization
import TelemetryCore

/// Keeps exported spans in memory, for tests.
public final class InMemorySpanExporter: SpanExporter {
    private let storage = Mutex<[SpanData]>([])
    private let isShutdown = Atomic<Bool>(false)

    public init() {}

    public func export(_ batch: [SpanData]) -> SpanExportResult {
        guard !isShutdown.load(ordering: .relaxed) else { return .failure("shut down") }
        storage.withLock { $0.append(contentsOf: batch) }
        return .success
    }

    /// Everything exported so far, in order.
    public var spans: [SpanData] { storage.withLock { $0 } }

    public func reset() { storage.withLock { $0.removeAll() } }

    public func shutdown() { isShutdown.store(true, ordering: .relaxed) }

    public var hasShutDown: Bool { isShutdown.load(ordering: .relaxed) }
}

/// Writes one JSON object per span to standard output (through the log writer, so lines
/// never interleave with log lines). `OTEL_TRACES_EXPORTER=console`.
public final class ConsoleSpanExporter: SpanExporter {
    let writer: LogLineWriter

    public init(writer: LogLineWriter = .standardOutput) { self.writer = writer }

    public func export(_ batch: [SpanData]) -> SpanExportResult {
        for span in batch { writer.write(ConsoleSpanExporter.formatLine(span)) }
        return .success
    }

    public func forceFlush() { writer.flush(timeout: .seconds(1)) }

    static func formatLine(_ span: SpanData) -> [UInt8] {
        var out: [UInt8] = []
        out.appendASCII("{\"ts\":\"")
        out.appendRFC3339Milliseconds(unixNanoseconds: span.endTimeUnixNano)
        out.appendASCII("\",\"type\":\"span\",\"name\":")
        out.appendJSONString(span.name)
        out.appendASCII(",\"trace_id\":\"")
        span.context.traceID.appendHex(to: &out)
        out.appendASCII("\",\"span_id\":\"")
        span.context.spanID.appendHex(to: &out)
        out.append(UInt8(ascii: "\""))
        if let parent = span.parentSpanID {
            out.appendASCII(",\"parent_span_id\":\"")
            parent.appendHex(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.appendASCII(",\"kind\":\"")
        out.appendUTF8(String(describing: span.kind))
        out.appendASCII("\",\"start\":\"")
        out.appendRFC3339Milliseconds(unixNanoseconds: span.startTimeUnixNano)
        out.appendASCII("\",\"duration_ms\":")
        out.appendJSONDouble(Double(span.durationNanoseconds) / 1e6)
        out.appendASCII(",\"status\":\"")
        switch span.status {
        case .unset: out.appendASCII("unset\"")
        case .ok: out.appendASCII("ok\"")
        case .error(let message):
            out.appendASCII("error\"")
            if let message {
                out.appendASCII(",\"status_message\":")
                out.appendJSONString(message)
            }
        }
        out.appendASCII(",\"attributes\":")
        appendAttributes(span.attributes, to: &out)
        out.appendASCII(",\"events\":[")
        for (i, event) in span.events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"name\":")
            out.appendJSONString(event.name)
            out.appendASCII(",\"ts\":\"")
            out.appendRFC3339Milliseconds(unixNanoseconds: event.timeUnixNano)
            out.appendASCII("\",\"attributes\":")
            appendAttributes(event.attributes, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.appendASCII("],\"links\":[")
        for (i, link) in span.links.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"trace_id\":\"")
            link.context.traceID.appendHex(to: &out)
            out.appendASCII("\",\"span_id\":\"")
            link.context.spanID.appendHex(to: &out)
            out.appendASCII("\"}")
        }
        out.appendASCII("]}\n")
        return out
    }

    private static func appendAttributes(_ attributes: SpanAttributes, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, entry) in attributes.entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendJSONString(entry.key)
            out.append(UInt8(ascii: ":"))
            switch entry.value {
            case .string(let s): out.appendJSONString(s)
            case .int(let i): out.appendDecimal(i)
            case .double(let d): out.appendJSONDouble(d)
            case .bool(let b): out.appendASCII(b ? "true" : "false")
            case .stringArray(let values):
                out.append(UInt8(ascii: "["))
                for (j, s) in values.enumerated() {
                    if j > 0 { out.append(UInt8(ascii: ",")) }
                    out.appendJSONString(s)
                }
                out.append(UInt8(ascii: "]"))
            }
        }
        out.append(UInt8(ascii: "}"))
    }
}
