import Synchronization
import TelemetryCore

/// Creates spans: assigns ids, asks the sampler, and wires ended spans to the processor.
///
///     let parent = W3CTraceContextPropagator().extract { request.header($0) }
///     let span = tracer.startSpan("POST /v2/models/{model}/infer", context: ServiceContext(traceContext: parent),
///                                 ofKind: .server)
///     defer { span.end() }
///     ServiceContext.withValue(span.context) { … }
public final class Tracer: Sendable {
    public let sampler: Sampler
    public let processor: (any SpanProcessor)?
    public let limits: SpanLimits

    public init(sampler: Sampler = .parentBased(root: .alwaysOn), processor: (any SpanProcessor)?,
                limits: SpanLimits = SpanLimits()) {
        self.sampler = sampler
        self.processor = processor
        self.limits = limits
    }

    /// A tracer that samples nothing and exports nothing, but still creates ids so trace
    /// context propagates.
    public static let noop = Tracer(sampler: .parentBased(root: .alwaysOff), processor: nil)

    /// Starts a span whose parent is `context`'s span or remote trace context (by default the
    /// context bound to the current task or thread). Pass `.topLevel` to start a new trace.
    public func startSpan(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                          ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                          links: [SpanLink] = [], at startTimeUnixNano: UInt64? = nil) -> Span {
        startSpan(context: context, ofKind: kind, links: links, at: startTimeUnixNano) { (operationName, attributes) }
    }

    /// Starts a span like `startSpan(_:context:ofKind:attributes:links:at:)`, but calls
    /// `details` for its name and attributes only when the sampler records the span: an
    /// unsampled request pays for its ids (which still propagate), not for strings it would
    /// throw away. An unsampled span's `operationName` is empty and, unless `at` is given, its
    /// start time is 0. (Sampling looks at the parent and the trace id, never at the name.)
    ///
    ///     let span = tracer.startSpan(context: parent, ofKind: .server) {
    ///         ("\(request.method) \(route)", ["http.route": .string(route)])
    ///     }
    public func startSpan(context: ServiceContext? = ServiceContext.current, ofKind kind: SpanKind = .internal,
                          links: [SpanLink] = [], at startTimeUnixNano: UInt64? = nil,
                          details: () -> (operationName: String, attributes: SpanAttributes)) -> Span {
        let (spanContext, validParent) = newContext(parent: context?.traceContext)
        if spanContext.isSampled {
            return recordingSpan(spanContext, parent: validParent, kind: kind, links: links, at: startTimeUnixNano, details: details)
        }
        return Span(name: "", kind: kind, context: spanContext, parentSpanID: validParent?.spanID,
                    parentIsRemote: validParent?.isRemote ?? false, isRecording: false,
                    startTimeUnixNano: startTimeUnixNano ?? 0, attributes: SpanAttributes(), links: [], processor: nil,
                    limits: limits)
    }

    /// Like `startSpan(context:ofKind:links:at:details:)` for a caller that needs the new span's
    /// identity on every request but a `Span` only when it is recorded (a server span: its ids
    /// go into the response and the logs either way): an unsampled request allocates nothing.
    ///
    ///     let (trace, span) = tracer.startSpanIfRecording(context: parent, ofKind: .server) { … }
    ///     // span is nil unless sampled; trace is span?.traceContext, or the unsampled ids
    public func startSpanIfRecording(context: ServiceContext?, ofKind kind: SpanKind = .internal,
                                     at startTimeUnixNano: UInt64? = nil,
                                     details: () -> (operationName: String, attributes: SpanAttributes))
        -> (traceContext: TraceContext, span: Span?) {
        let (spanContext, validParent) = newContext(parent: context?.traceContext)
        guard spanContext.isSampled else { return (spanContext, nil) }
        return (spanContext, recordingSpan(spanContext, parent: validParent, kind: kind, links: [], at: startTimeUnixNano,
                                           details: details))
    }

    /// A sampled span, started and handed to the processor.
    private func recordingSpan(_ spanContext: TraceContext, parent validParent: TraceContext?, kind: SpanKind,
                               links: [SpanLink], at startTimeUnixNano: UInt64?,
                               details: () -> (operationName: String, attributes: SpanAttributes)) -> Span {
        let (name, attributes) = details()
        let span = Span(name: name, kind: kind, context: spanContext, parentSpanID: validParent?.spanID,
                        parentIsRemote: validParent?.isRemote ?? false, isRecording: true,
                        startTimeUnixNano: startTimeUnixNano ?? SystemClock.unixNanoseconds(), attributes: attributes,
                        links: links, processor: processor, limits: limits)
        processor?.onStart(span)
        return span
    }

    /// Records a span whose start and end are already known (a wait timed elsewhere, a step of a
    /// batch) in one call: no live `Span`, no lock, one `SpanData` handed to the processor (which
    /// sees it only at `onEnd`). Returns the span's context for children and links; it carries
    /// ids also when the sampler dropped the span, which is then not exported.
    ///
    ///     let queue = tracer.recordSpan("inference.queue", parent: request.traceContext,
    ///                                   start: enqueued, end: started)
    @discardableResult
    public func recordSpan(_ operationName: String, parent: TraceContext?, kind: SpanKind = .internal,
                           start startTimeUnixNano: UInt64, end endTimeUnixNano: UInt64,
                           attributes: SpanAttributes = [:], links: [SpanLink] = [],
                           status: SpanStatus = .unset) -> TraceContext {
        let (context, validParent) = newContext(parent: parent)
        guard context.isSampled, let processor else { return context }
        let attributes = limits.limit(attributes), links = limits.limit(links)
        processor.onEnd(SpanData(name: operationName, kind: kind, context: context, parentSpanID: validParent?.spanID,
                                 parentIsRemote: validParent?.isRemote ?? false, startTimeUnixNano: startTimeUnixNano,
                                 endTimeUnixNano: max(endTimeUnixNano, startTimeUnixNano), attributes: attributes.kept,
                                 events: [], links: links.kept, status: status,
                                 droppedAttributesCount: attributes.dropped, droppedEventsCount: 0,
                                 droppedLinksCount: links.dropped))
        return context
    }

    /// Records, like `recordSpan`, one span for each parent in `parents`, starting at the time at
    /// the same index of `starts`: spans that share their name, kind, end, attributes, links and
    /// status, as the members of a batch share a step. They reach the processor in one call, so
    /// what they share is held once, and an exporter can encode it once. Returns each span's
    /// context, in order (with ids also where the sampler dropped the span). A start after `end`
    /// is taken as `end`.
    ///
    ///     let queues = tracer.recordSpans("inference.queue", parents: members.map(\.trace),
    ///                                     starts: members.map(\.enqueued), end: batchStart)
    @discardableResult
    public func recordSpans(_ operationName: String, parents: [TraceContext], starts: [UInt64], kind: SpanKind = .internal,
                            end endTimeUnixNano: UInt64, attributes: SpanAttributes = [:], links: [SpanLink] = [],
                            status: SpanStatus = .unset) -> [TraceContext] {
        precondition(parents.count == starts.count, "one start per parent")
        var contexts: [TraceContext] = []
        contexts.reserveCapacity(parents.count)
        var members: [SpanGroup.Member] = []
        for i in parents.indices {
            let (context, validParent) = newContext(parent: parents[i])
            contexts.append(context)
            guard context.isSampled, processor != nil else { continue }
            if members.capacity == 0 { members.reserveCapacity(parents.count) }
            members.append(SpanGroup.Member(context: context, parentSpanID: validParent?.spanID,
                                            parentIsRemote: validParent?.isRemote ?? false,
                                            startTimeUnixNano: min(starts[i], endTimeUnixNano)))
        }
        guard !members.isEmpty, let processor else { return contexts }
        let attributes = limits.limit(attributes), links = limits.limit(links)
        processor.onEnd(SpanGroup(name: operationName, kind: kind, endTimeUnixNano: endTimeUnixNano,
                                  attributes: attributes.kept, links: links.kept, status: status,
                                  droppedAttributesCount: attributes.dropped, droppedLinksCount: links.dropped,
                                  members: members))
        return contexts
    }

    /// A new span's context under `parent` (a new trace when it is nil or invalid), sampled as
    /// the sampler decides, and the parent it was given when that is valid.
    private func newContext(parent: TraceContext?) -> (context: TraceContext, validParent: TraceContext?) {
        let validParent = parent.flatMap { $0.traceID.isValid ? $0 : nil }
        let traceID: TraceID
        var flags: TraceFlags
        let traceState: TraceState
        if let validParent {
            traceID = validParent.traceID
            flags = validParent.flags.intersection(.random)
            traceState = validParent.traceState
        } else {
            traceID = TraceID.random()
            flags = .random
            traceState = TraceState()
        }
        if sampler.shouldSample(parent: validParent, traceID: traceID) { flags.insert(.sampled) }
        return (TraceContext(traceID: traceID, spanID: SpanID.random(), flags: flags, traceState: traceState, isRemote: false),
                validParent)
    }

    /// Runs `operation` inside a new span bound as the current context, ending it afterwards.
    /// A thrown error is recorded on the span, sets its status to error, and is rethrown.
    public func withSpan<T>(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                            ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                            _ operation: (Span) throws -> T) rethrows -> T {
        let span = startSpan(operationName, context: context, ofKind: kind, attributes: attributes)
        defer { span.end() }
        do {
            return try ServiceContext.withValue(span.context) { try operation(span) }
        } catch {
            span.recordError(error)
            span.setStatus(.error(message: String(describing: error)))
            throw error
        }
    }

    /// Async variant of `withSpan`.
    public func withSpan<T>(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                            ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                            isolation: isolated (any Actor)? = #isolation,
                            _ operation: (Span) async throws -> T) async rethrows -> T {
        let span = startSpan(operationName, context: context, ofKind: kind, attributes: attributes)
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context, isolation: isolation) { try await operation(span) }
        } catch {
            span.recordError(error)
            span.setStatus(.error(message: String(describing: error)))
            throw error
        }
    }
}

/// The process-wide tracer, chosen once at startup (as swift-distributed-tracing's
/// `InstrumentationSystem`). Until bootstrapped it is `Tracer.noop`.
public enum TracingSystem {
    private static let current = Mutex(Tracer.noop)

    public static func bootstrap(_ tracer: Tracer) {
        current.withLock { $0 = tracer }
    }

    public static var tracer: Tracer { current.withLock { $0 } }
}

/// Starts a span with the process-wide tracer.
public func startSpan(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                      ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                      links: [SpanLink] = []) -> Span {
    TracingSystem.tracer.startSpan(operationName, context: context, ofKind: kind, attributes: attributes, links: links)
}

/// Runs `operation` in a span of the process-wide tracer.
public func withSpan<T>(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                        ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                        _ operation: (Span) throws -> T) rethrows -> T {
    try TracingSystem.tracer.withSpan(operationName, context: context, ofKind: kind, attributes: attributes, operation)
}

/// Runs `operation` in a span of the process-wide tracer (async).
public func withSpan<T>(_ operationName: String, context: ServiceContext? = ServiceContext.current,
                        ofKind kind: SpanKind = .internal, attributes: SpanAttributes = [:],
                        isolation: isolated (any Actor)? = #isolation,
                        _ operation: (Span) async throws -> T) async rethrows -> T {
    try await TracingSystem.tracer.withSpan(operationName, context: context, ofKind: kind, attributes: attributes,
                                            isolation: isolation, operation)
}
