import Logging
import Synchronization
import TelemetryCore

/// Queues ended spans and exports them in batches from its own background thread, so a slow
/// or unreachable collector never slows a request. The queue is bounded: when it is full,
/// spans are dropped and counted (`droppedSpans`), never waited for.
///
/// A full batch (`maxExportBatchSize` spans) is exported as soon as it is queued; what is left
/// over goes out every `scheduleDelay`, and `forceFlush` and `shutdown` drain the queue. Under
/// steady load every export is a full batch, so the cost of each request to the collector is
/// shared by as many spans as allowed.
///
/// Spans are queued straight into the batch that will be exported: a full batch is handed to
/// the exporter as it is, never copied or split, and its storage comes back for reuse. With the
/// OTLP exporter, a span is encoded into the batch when it ends, on the thread that ends it
/// (where its data is in the cache and its memory is freed); the export thread only frames
/// and sends the bytes.
public final class BatchSpanProcessor: SpanProcessor {
    public struct Configuration: Sendable {
        public var maxQueueSize: Int
        public var maxExportBatchSize: Int
        public var scheduleDelay: Duration

        /// 8192 queued, 2048 per batch, a partial batch every 5 s. The OpenTelemetry SDK defaults
        /// are 2048 and 512; larger batches because each export request costs the export thread
        /// 75–95 µs of CPU besides its spans' 30–40 ns each (it sleeps and wakes twice, and on
        /// loopback wakes the collector): in batches of 512 the export thread took about 1.5% of a busy
        /// server's CPU at 100% sampling, in batches of 2048 0.6% (`bench/span-export.sh`). 2048
        /// spans of an infer request are about 0.4 MB, well below collectors' request limits.
        /// Without a batch size, a queue smaller than the default gets batches of a quarter of it,
        /// as the default has: a batch the size of the whole queue would drop every span that ends
        /// while it is sent. A batch size given is kept, at most the queue's.
        public init(maxQueueSize: Int = 8192, maxExportBatchSize: Int? = nil, scheduleDelay: Duration = .seconds(5)) {
            precondition(maxQueueSize > 0 && (maxExportBatchSize ?? 1) > 0)
            self.maxQueueSize = maxQueueSize
            self.maxExportBatchSize = min(maxExportBatchSize ?? min(2048, max(1, maxQueueSize / 4)), maxQueueSize)
            self.scheduleDelay = scheduleDelay
        }
    }

    /// Spans queued for one export: the spans themselves or, for an exporter that encodes each
    /// span as it ends (`SpanEncodingExporter`), their encoding.
    private final class Batch: @unchecked Sendable {  // only touched under the lock, or by the export thread that took it
        var spans: [SpanData] = []
        var encoded = ByteBuffer(capacity: 0)
        var count = 0

        /// Empty, keeping the storage (up to 4 MiB of encoding) for the next batch.
        func reset() {
            spans.removeAll(keepingCapacity: true)
            encoded.removeAll(keeping: 4 << 20)
            count = 0
        }
    }

    private struct State {
        /// Full batches, oldest first.
        var full: [Batch] = []
        /// The batch being filled.
        var filling = Batch()
        /// Spans in `full` and `filling`.
        var count = 0
        /// Emptied batches, their storage kept for the next ones.
        var spare: [Batch] = []
        var flushRequested = 0
        var flushCompleted = 0
        var shuttingDown = false
        var finished = false
        var workerSignalled = false

        /// Whether another span may be queued (counting it as dropped when not).
        func admits(_ configuration: Configuration) -> Bool {
            !shuttingDown && count < configuration.maxQueueSize
        }

        /// Counts the `spans` spans just added to `filling`; true when that made a full batch and
        /// the export thread is to be woken.
        mutating func added(_ spans: Int = 1, batchSize: Int) -> Bool {
            filling.count += spans
            count += spans
            guard filling.count >= batchSize else { return false }
            full.append(filling)
            filling = spare.popLast() ?? Batch()
            if workerSignalled { return false }
            workerSignalled = true
            return true
        }

        /// The oldest full batch or, when `everything` is set, what is being filled; `empty`
        /// takes its place among the spares (or as the batch being filled).
        mutating func take(everything: Bool, replacingWith empty: Batch) -> Batch? {
            let taken: Batch
            if !full.isEmpty {
                taken = full.removeFirst()
                spare.append(empty)
            } else if everything && filling.count > 0 {
                taken = filling
                filling = empty
            } else {
                return nil
            }
            count -= taken.count
            return taken
        }
    }

    public let configuration: Configuration
    let exporter: any SpanExporter
    /// The exporter, when it encodes spans as they end.
    private let encoder: (any SpanEncodingExporter)?
    private let state = Mutex(State())
    private let wakeUp = Semaphore()
    private let exported = Atomic<Int>(0)
    private let overflowed = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    public init(exporter: any SpanExporter, configuration: Configuration = Configuration()) {
        self.exporter = exporter
        encoder = exporter as? any SpanEncodingExporter
        self.configuration = configuration
        spawnDetachedThread(name: "pd-span-export") { [self] in run() }
    }

    /// Spans the exporter accepted (for `pd_trace_spans_exported_total`).
    public var exportedSpans: Int { exported.load(ordering: .relaxed) }
    /// Spans lost: queue overflow, ended after shutdown, or an export that failed after its
    /// retries (for `pd_trace_spans_dropped_total`).
    public var droppedSpans: Int { overflowed.load(ordering: .relaxed) + failed.load(ordering: .relaxed) }
    /// The part of `droppedSpans` refused because the queue was full or shut down.
    public var queueOverflowSpans: Int { overflowed.load(ordering: .relaxed) }
    /// The part of `droppedSpans` whose export failed.
    public var failedSpans: Int { failed.load(ordering: .relaxed) }
    /// Spans waiting in the queue.
    public var queueDepth: Int { state.withLock { $0.count } }

    public func onEnd(_ span: consuming SpanData) {
        if let encoder {
            // Encoded where it lies (borrowed: nothing in it is copied or retained), then freed here.
            queueEncoded(span, encoder)
            return
        }
        // Taken (moved) into the queue under the lock: capturing the span would copy it.
        var pending: SpanData? = consume span
        let batchSize = configuration.maxExportBatchSize
        let signal: Bool = state.withLock { state in
            guard state.admits(configuration) else {
                overflowed.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            if state.filling.spans.capacity == 0 { state.filling.spans.reserveCapacity(batchSize) }
            state.filling.spans.append(pending.take()!)
            return state.added(batchSize: batchSize)
        }
        if signal { wakeUp.signal() }
    }

    public func onEnd(_ group: consuming SpanGroup) {
        guard let encoder else {
            for i in group.members.indices { onEnd(group.span(i)) }
            return
        }
        // Under one lock, in as many pieces as the batches being filled take.
        let batchSize = configuration.maxExportBatchSize
        let signal: Bool = state.withLock { state in
            var signal = false
            var next = 0
            while next < group.members.count {
                guard state.admits(configuration) else {
                    overflowed.wrappingAdd(group.members.count - next, ordering: .relaxed)
                    break
                }
                let room = min(batchSize - state.filling.count, configuration.maxQueueSize - state.count)
                let piece = next..<min(group.members.count, next + room)
                encoder.encode(group, members: piece, into: &state.filling.encoded)
                if state.added(piece.count, batchSize: batchSize) { signal = true }
                next = piece.upperBound
            }
            return signal
        }
        if signal { wakeUp.signal() }
    }

    /// Encodes `span` into the batch being filled, here on the thread that ended it (its data is
    /// in this thread's cache, and it is freed where it was made).
    private func queueEncoded(_ span: borrowing SpanData, _ encoder: any SpanEncodingExporter) {
        let batchSize = configuration.maxExportBatchSize
        let signal: Bool = state.withLock { state in
            guard state.admits(configuration) else {
                overflowed.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            encoder.encode(span, into: &state.filling.encoded)
            return state.added(batchSize: batchSize)
        }
        if signal { wakeUp.signal() }
    }

    public func forceFlush(timeout: Duration) -> Bool {
        let target: Int? = state.withLock { state in
            if state.finished { return nil }
            state.flushRequested += 1
            return state.flushRequested
        }
        guard let target else { return true }
        wakeUp.signal()
        return waitUntil(timeout: timeout) { $0.flushCompleted >= target || $0.finished }
    }

    public func shutdown(timeout: Duration) -> Bool {
        state.withLock { $0.shuttingDown = true }
        wakeUp.signal()
        return waitUntil(timeout: timeout) { $0.finished }
    }

    private func waitUntil(timeout: Duration, _ condition: (borrowing State) -> Bool) -> Bool {
        let deadline = SystemClock.monotonicNanoseconds() &+ timeout.nanosecondsClamped
        while true {
            if state.withLock({ condition($0) }) { return true }
            if SystemClock.monotonicNanoseconds() >= deadline { return false }
            sleepNanoseconds(1_000_000)
        }
    }

    private func run() {
        var failureLog = ExportFailureLog()
        let delay = configuration.scheduleDelay.nanosecondsClamped
        var empty = Batch()
        while true {
            let signalled = wakeUp.wait(timeoutNanoseconds: delay)
            let (flushTarget, flushPending, shuttingDown) = state.withLock { state in
                state.workerSignalled = false
                return (state.flushRequested, state.flushRequested > state.flushCompleted, state.shuttingDown)
            }
            // Full batches always; the partial one on the timer, a flush or the shutdown.
            let everything = !signalled || flushPending || shuttingDown
            while let batch = state.withLock({ $0.take(everything: everything, replacingWith: empty) }) {
                let result = if let encoder {
                    encoder.export(encoded: batch.encoded, spans: batch.count)
                } else {
                    exporter.export(batch.spans)
                }
                switch result {
                case .success: exported.wrappingAdd(batch.count, ordering: .relaxed)
                case .failure(let message):
                    failed.wrappingAdd(batch.count, ordering: .relaxed)
                    failureLog.record(spans: batch.count, message: message)
                }
                batch.reset()
                empty = batch
            }
            if shuttingDown {
                exporter.shutdown()
                state.withLock { state in
                    // Anything that raced in after the last drain is counted, not silently lost.
                    overflowed.wrappingAdd(state.count, ordering: .relaxed)
                    state.full.removeAll()
                    state.filling.reset()
                    state.count = 0
                    state.flushCompleted = state.flushRequested
                    state.finished = true
                }
                return
            }
            if flushPending {
                exporter.forceFlush()
                state.withLock { $0.flushCompleted = max($0.flushCompleted, flushTarget) }
            }
        }
    }
}

/// Logs failed exports on the processor's thread: the first at once, then at most one line a minute
/// with what was dropped meanwhile, so a collector that is down is visible in the logs without
/// flooding them (every dropped span is also counted in `pd_trace_spans_dropped_total`).
private struct ExportFailureLog {
    static let intervalNanos: UInt64 = 60_000_000_000
    let logger = Logger(label: "tracing")
    var lastLoggedAt: UInt64?
    var spansSinceLog = 0
    var failuresSinceLog = 0

    mutating func record(spans: Int, message: String) {
        spansSinceLog += spans
        failuresSinceLog += 1
        let now = SystemClock.monotonicNanoseconds()
        if let last = lastLoggedAt, now &- last < Self.intervalNanos { return }
        logger.warning("span export failed; spans dropped", metadata: [
            "error.message": .string(message), "trace.spans_dropped": "\(spansSinceLog)",
            "trace.failed_exports": "\(failuresSinceLog)",
        ])
        lastLoggedAt = now
        spansSinceLog = 0
        failuresSinceLog = 0
    }
}
