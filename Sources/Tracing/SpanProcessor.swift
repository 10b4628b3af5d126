import Synchronization
import TelemetryCore

/// Receives spans as they start and end (OpenTelemetry `SpanProcessor`). Called on the
/// request's thread: implementations must not block. A class: every span holds its processor,
/// and a class reference is copied with one retain, not through an existential box.
public protocol SpanProcessor: AnyObject, Sendable {
    func onStart(_ span: Span)
    /// `span` is handed over (`consuming`): a processor that keeps it moves it rather than
    /// retaining each of its strings and arrays again.
    func onEnd(_ span: consuming SpanData)
    /// Spans ended together that share all but their ids, parents and starts (`Tracer.recordSpans`).
    /// By default each member's span is passed to `onEnd(_:)`.
    func onEnd(_ group: consuming SpanGroup)
    /// Exports everything queued; true if it finished within `timeout`.
    func forceFlush(timeout: Duration) -> Bool
    /// Flushes, stops, and shuts the exporter down; true if it finished within `timeout`.
    func shutdown(timeout: Duration) -> Bool
}

extension SpanProcessor {
    public func onStart(_ span: Span) {}

    public func onEnd(_ group: consuming SpanGroup) {
        for i in group.members.indices { onEnd(group.span(i)) }
    }
}

/// Sends spans to an exporter (OpenTelemetry `SpanExporter`). `export` is called from one
/// background thread at a time and may block (network I/O, retries).
public protocol SpanExporter: Sendable {
    func export(_ batch: [SpanData]) -> SpanExportResult
    func forceFlush()
    func shutdown()
}

extension SpanExporter {
    public func forceFlush() {}
    public func shutdown() {}
}

/// An exporter that encodes each span as it ends, on the thread that ends it (while the span is
/// still in that thread's cache), so that `BatchSpanProcessor` queues encoded bytes rather than
/// spans: each span is freed where it was made, and the export thread only frames and sends.
protocol SpanEncodingExporter: SpanExporter, AnyObject {
    /// Appends `span` to `batch` (called under the processor's lock; it must not block).
    func encode(_ span: borrowing SpanData, into batch: inout ByteBuffer)
    /// Appends the spans of `group`'s members in `members` to `batch`, as `encode` would one by one.
    func encode(_ group: borrowing SpanGroup, members: Range<Int>, into batch: inout ByteBuffer)
    /// Sends the `spans` spans `encode` wrote into `batch`.
    func export(encoded batch: borrowing ByteBuffer, spans: Int) -> SpanExportResult
}

public enum SpanExportResult: Sendable, Equatable {
    case success
    case failure(String)
}

/// Exports each span synchronously on the thread that ends it. For tests and tools only:
/// a slow exporter would slow the request.
public final class SimpleSpanProcessor: SpanProcessor {
    let exporter: any SpanExporter
    private let isShutdown = Atomic<Bool>(false)

    public init(exporter: any SpanExporter) { self.exporter = exporter }

    public func onEnd(_ span: consuming SpanData) {
        guard !isShutdown.load(ordering: .relaxed) else { return }
        _ = exporter.export([span])
    }

    public func forceFlush(timeout: Duration) -> Bool {
        exporter.forceFlush()
        return true
    }

    public func shutdown(timeout: Duration) -> Bool {
        if !isShutdown.exchange(true, ordering: .relaxed) { exporter.shutdown() }
        return true
    }
}
