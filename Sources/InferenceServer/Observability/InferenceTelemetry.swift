#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import InferenceCore
import Telemetry

/// Metrics, spans and batch log lines of the inference path: the batcher's observer and the
/// service's per-request hook. Every configured model's series exist from startup.
final class InferenceTelemetry: BatcherObserver, InferenceObserver, Sendable {
    /// A model version's handles (a class, so that finding one copies a reference, not a dozen).
    final class Series: Sendable {
        /// `outcomes["success"]`, without a lookup on the common path.
        let success: Counter
        let outcomes: [String: Counter]
        let requestDuration: Histogram
        let queueDuration: Histogram
        let computeDuration: Histogram
        let batchSize: Histogram
        let batches: [BatchTrigger: Counter]
        let queueCapacity: Gauge
        let ready: Gauge

        init(success: Counter, outcomes: [String: Counter], requestDuration: Histogram, queueDuration: Histogram,
             computeDuration: Histogram, batchSize: Histogram, batches: [BatchTrigger: Counter],
             queueCapacity: Gauge, ready: Gauge) {
            self.success = success
            self.outcomes = outcomes
            self.requestDuration = requestDuration
            self.queueDuration = queueDuration
            self.computeDuration = computeDuration
            self.batchSize = batchSize
            self.batches = batches
            self.queueCapacity = queueCapacity
            self.ready = ready
        }
    }

    /// Model name and version, hashed without building a combined string per lookup.
    struct SeriesKey: Hashable {
        let model: String
        let version: String
    }

    static let outcomes = ["success", "invalid", "rejected", "timeout", "cancelled", "error"]
    let series: [SeriesKey: Series]
    /// The same series in a list: with a handful of models, comparing names (short strings
    /// compare as two words) is cheaper than hashing them on every request and batch.
    let seriesList: [(key: SeriesKey, series: Series)]
    let tracer: Tracer?
    /// False when no span can ever be recorded (no tracer, or one that samples nothing): the
    /// request's span is then never looked up.
    let mayRecordSpans: Bool
    let logger = Logger(label: "batcher")

    init(entries: [ModelEntry], maxBatchSize: Int, queueCapacity: Int, registry: MetricsRegistry, tracer: Tracer?) {
        Self.describe(registry)
        var all: [SeriesKey: Series] = [:]
        for entry in entries {
            let dims = [("model", entry.name), ("version", entry.version)]
            let rows = entry.batcher?.maxBatchRows ?? max(1, maxBatchSize)
            var bounds: [Double] = []
            var b = 1
            while b < rows { bounds.append(Double(b)); b *= 2 }
            bounds.append(Double(rows))
            let outcomes = Dictionary(uniqueKeysWithValues: Self.outcomes.map {
                ($0, Counter(label: "pd_inference_requests_total", dimensions: dims + [("outcome", $0)], registry: registry))
            })
            let s = Series(
                success: outcomes["success"]!,
                outcomes: outcomes,
                requestDuration: Histogram(label: "pd_inference_request_duration_seconds", dimensions: dims, registry: registry),
                queueDuration: Histogram(label: "pd_inference_queue_duration_seconds", dimensions: dims, registry: registry),
                computeDuration: Histogram(label: "pd_inference_compute_duration_seconds", dimensions: dims, registry: registry),
                batchSize: Histogram(label: "pd_inference_batch_size", dimensions: dims, buckets: bounds, registry: registry),
                batches: Dictionary(uniqueKeysWithValues: BatchTrigger.allCases.map {
                    ($0, Counter(label: "pd_inference_batches_total", dimensions: dims + [("trigger", $0.rawValue)], registry: registry))
                }),
                queueCapacity: Gauge(label: "pd_inference_queue_capacity", dimensions: dims, registry: registry),
                ready: Gauge(label: "pd_model_ready", dimensions: dims, registry: registry))
            // Read from the batcher when scraped: no write to shared memory per request.
            weak let batcher = entry.batcher
            registry.registerCallback(label: "pd_inference_queue_depth", dimensions: dims) { Double(batcher?.queueDepth ?? 0) }
            registry.registerCallback(label: "pd_inference_batches_in_flight", dimensions: dims) {
                Double(batcher?.batchesInFlight ?? 0)
            }
            s.queueCapacity.set(entry.batcher?.queueCapacity ?? queueCapacity)
            s.ready.set(entry.isReady ? 1 : 0)
            all[SeriesKey(model: entry.name, version: entry.version)] = s
        }
        series = all
        seriesList = all.map { ($0.key, $0.value) }
        self.tracer = tracer
        mayRecordSpans = tracer.map { $0.sampler != .alwaysOff } ?? false
    }

    static func describe(_ registry: MetricsRegistry) {
        let help: [(String, String)] = [
            ("pd_inference_requests_total", "Inference requests finished, by outcome (success, invalid, rejected, timeout, cancelled, error)."),
            ("pd_inference_request_duration_seconds", "Time from a complete request to its inference response."),
            ("pd_inference_queue_duration_seconds", "Time a request waited in its model's queue before its batch started."),
            ("pd_inference_compute_duration_seconds", "Time one batch spent in the model run."),
            ("pd_inference_batch_size", "Rows per executed batch."),
            ("pd_inference_batches_total", "Batches executed, by what formed them (full, delay, drain)."),
            ("pd_inference_queue_depth", "Requests waiting in the model's queue."),
            ("pd_inference_queue_capacity", "Requests the model's queue holds before rejecting."),
            ("pd_inference_batches_in_flight", "Batches running now."),
            ("pd_model_ready", "1 when the model version is loaded and serving, else 0."),
        ]
        for (name, text) in help { registry.describe(name: name, help: text) }
    }

    @inline(__always)
    func series(_ model: String, _ version: String) -> Series? {
        guard seriesList.count <= 8 else { return series[SeriesKey(model: model, version: version)] }
        for entry in seriesList where entry.key.model == model && entry.key.version == version { return entry.series }
        return nil
    }

    // MARK: BatcherObserver

    /// Starts the batch span: a new trace linked to every member request's span, timed from when
    /// the batch left the queue (where its members' execute spans and its steps begin too).
    func batchStarted(model: String, version: String, batchID: UInt64, trigger: BatchTrigger,
                      members: [BatchRecord.Member], startedAt: UInt64) -> (any AnyObject & Sendable)? {
        guard let tracer else { return nil }
        let rows = members.reduce(0) { $0 + $1.rows }
        let span = tracer.startSpan(context: .topLevel, ofKind: .internal,
                                    at: SystemClock.unixNanoseconds(monotonic: startedAt)) {
            // Appended, not a dictionary literal: no array of pairs first, no search per key.
            var attributes = SpanAttributes(minimumCapacity: 6)
            attributes.appendNew("inference.model.name", .string(model))
            attributes.appendNew("inference.model.version", .string(version))
            attributes.appendNew("inference.batch.id", .int(batchID))
            attributes.appendNew("inference.batch.trigger", .string(trigger.rawValue))
            attributes.appendNew("inference.batch.requests", .int(members.count))
            attributes.appendNew("inference.batch.size", .int(rows))
            return ("inference.batch", attributes)
        }
        if span.isRecording {
            // A plain loop: a lazy compactMap here runs unspecialized through Span's generic
            // code in another module, with a type-metadata lookup per element.
            var links: [SpanLink] = []
            links.reserveCapacity(members.count)
            for i in members.indices {
                if let context = members[i].traceContext { links.append(SpanLink(context)) }
            }
            span.addLinks(links)
        }
        // The batch's size and trigger are on its span, one link away: not repeated on every member's.
        // The model's name and version are, so that each request's own trace names its model. They
        // are the same for every member, so encoded once per batch (the server span, made per
        // request, does not repeat them).
        var memberAttributes = SpanAttributes(minimumCapacity: 3)
        memberAttributes.appendNew("inference.batch.id", .int(batchID))
        memberAttributes.appendNew("inference.model.name", .string(model))
        memberAttributes.appendNew("inference.model.version", .string(version))
        return BatchTrace(span: span, memberAttributes: memberAttributes)
    }

    func batchFinished(_ record: BatchRecord) {
        let e = record.execution
        if let s = series(record.model, record.version) {
            s.computeDuration.observe(Double(e.computeNanos) / 1e9)
            s.batchSize.observe(Double(e.batchRows))
            s.batches[e.trigger]?.increment()
        }
        let span = (e.observerContext as? BatchTrace)?.span
        if let span, span.isRecording, let tracer {
            let clock = WallClock(near: e.finishedAt)
            func step(_ name: String, _ start: UInt64, _ end: UInt64, status: SpanStatus = .unset) {
                tracer.recordSpan(name, parent: span.traceContext, start: clock.unixNanos(monotonic: start),
                                  end: clock.unixNanos(monotonic: end), status: status)
            }
            step("batch.assemble", e.startedAt, e.assembledAt)
            step("model.run", e.assembledAt, e.ranAt, status: record.error.map { .error(message: $0) } ?? .unset)
            step("batch.scatter", e.ranAt, e.finishedAt)
            if let error = record.error { span.setStatus(.error(message: error)) }
            span.end(at: clock.unixNanos(monotonic: e.finishedAt))
        }
        if let tracer { recordMemberSpans(record, tracer: tracer) }
        guard logger.logLevel <= .debug || record.error != nil else { return }
        let traceIDs = record.members.compactMap { $0.traceContext?.traceID.description }
        let metadata: Logger.Metadata = [
            "model.name": .string(record.model), "model.version": .string(record.version),
            "batch.id": .stringConvertible(e.batchID), "batch.size": .stringConvertible(e.batchRows),
            "batch.requests": .stringConvertible(e.batchRequests), "batch.trigger": .string(e.trigger.rawValue),
            "batch.compute_ms": .stringConvertible(Double(e.computeNanos / 1_000) / 1_000),
            "batch.member_trace_ids": .array(traceIDs.map { .string($0) }),
        ]
        ServiceContext.withValue(span?.context) {
            if let error = record.error {
                logger.error("batch failed", metadata: metadata.merging(["error": .string(error)]) { $1 })
            } else {
                logger.debug("batch executed", metadata: metadata)
            }
        }
    }

    /// Each recorded member request's `inference.queue` (from when it was queued to when the batch
    /// started) and `inference.execute` (the batch step, linked to the batch span), in its own
    /// trace: one call for each kind, so the spans share what they have in common.
    private func recordMemberSpans(_ record: BatchRecord, tracer: Tracer) {
        var parents: [TraceContext] = [], enqueued: [UInt64] = []
        for member in record.members {
            // Members whose server span is recorded (a sampled context), as the spans nest in it.
            guard let trace = member.traceContext, trace.isSampled else { continue }
            if parents.isEmpty {
                parents.reserveCapacity(record.members.count)
                enqueued.reserveCapacity(record.members.count)
            }
            parents.append(trace)
            enqueued.append(member.enqueuedAt)
        }
        guard !parents.isEmpty else { return }
        let e = record.execution
        let clock = WallClock(near: e.finishedAt)
        for i in enqueued.indices { enqueued[i] = clock.unixNanos(monotonic: enqueued[i]) }  // in place: no second array
        let started = clock.unixNanos(monotonic: e.startedAt)
        let queues = tracer.recordSpans("inference.queue", parents: parents, starts: enqueued, end: started)
        let batch = e.observerContext as? BatchTrace
        tracer.recordSpans("inference.execute", parents: queues, starts: Array(repeating: started, count: queues.count),
                           end: clock.unixNanos(monotonic: e.finishedAt), attributes: batch?.memberAttributes ?? [:],
                           links: batch?.memberLinks ?? [], status: record.error.map { .error(message: $0) } ?? .unset)
    }

    // MARK: InferenceObserver

    func requestFinished(model: String, version: String, context: RequestContext, error: InferenceError?,
                         execution: BatchExecution?) {
        let span = mayRecordSpans ? context.span : nil
        // Exemplars only point at spans that are exported.
        let exemplar = span.flatMap { $0.isRecording ? $0.context : nil }
        if let s = series(model, version) {
            if let error {
                s.outcomes[error.outcome]?.increment()
            } else {
                s.success.increment()
            }
            let seconds = Double(monotonicNanos() &- context.receivedAtNanos) / 1e9
            s.requestDuration.observe(seconds, exemplarFrom: exemplar)
            if let execution { s.queueDuration.observe(Double(execution.queueNanos) / 1e9, exemplarFrom: exemplar) }
        }
        guard let span, span.isRecording else { return }
        if let error {
            span.recordError(error)
            // HTTP semantic conventions: a server span's status stays unset for 4xx (the client's fault).
            if error.httpStatus.code >= 500 { span.setStatus(.error(message: error.message)) }
        }
        // Its `inference.queue` and `inference.execute` spans are recorded with its batch's
        // (`batchFinished`), together with the other members'.
    }
}

/// A batch's span, and the attributes and link its members' `inference.execute` spans share: made
/// once per batch, so each member's span holds references to them instead of its own copies.
final class BatchTrace: Sendable {
    let span: Span
    let memberAttributes: SpanAttributes
    let memberLinks: [SpanLink]

    init(span: Span, memberAttributes: SpanAttributes) {
        self.span = span
        self.memberAttributes = memberAttributes
        memberLinks = [SpanLink(span.traceContext)]
    }
}

/// Converts monotonic instants to wall-clock Unix nanoseconds for span timestamps, with one
/// offset between the two clocks for all of a request's (or a batch's) spans, so that a span
/// ending where the next begins shows them touching. The offset is the one the process keeps
/// (`SystemClock.unixOffset(near:)`: clocks read every 100 ms, not for every span).
struct WallClock {
    private let offset: UInt64

    init(near monotonic: UInt64) { offset = SystemClock.unixOffset(near: monotonic) }

    func unixNanos(monotonic: UInt64) -> UInt64 { monotonic &+ offset }
}
