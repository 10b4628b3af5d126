import Synchronization
import TelemetryCore

/// One timed operation in a trace. Thread-safe: any thread may add attributes or events;
/// the first `end()` wins and hands a `SpanData` snapshot to the tracer's processor.
///
/// Spans that were not sampled still carry ids (so `traceparent` propagates), but every
/// mutating call returns immediately without taking a lock, and nothing is exported.
public final class Span: Sendable {
    /// This span's own identity (its `spanID` is the `parent-id` sent downstream).
    public let traceContext: TraceContext
    public let parentSpanID: SpanID?
    public let parentIsRemote: Bool
    public let kind: SpanKind
    /// False for spans the sampler dropped.
    public let isRecording: Bool
    /// 0 for a span that is not recording (its clock is not read).
    public let startTimeUnixNano: UInt64
    let processor: (any SpanProcessor)?
    let limits: SpanLimits

    struct State {
        var name: String
        var attributes: SpanAttributes
        var events: [SpanEvent] = []
        var links: [SpanLink]
        var status: SpanStatus = .unset
        var ended = false
        var droppedAttributes = 0
        var droppedEvents = 0
        var droppedLinks = 0
    }

    private let state: Mutex<State>

    init(name: String, kind: SpanKind, context: TraceContext, parentSpanID: SpanID?, parentIsRemote: Bool,
         isRecording: Bool, startTimeUnixNano: UInt64, attributes: SpanAttributes, links: [SpanLink],
         processor: (any SpanProcessor)?, limits: SpanLimits) {
        self.traceContext = context
        self.parentSpanID = parentSpanID
        self.parentIsRemote = parentIsRemote
        self.kind = kind
        self.isRecording = isRecording
        self.startTimeUnixNano = startTimeUnixNano
        self.processor = processor
        self.limits = limits
        guard isRecording else {
            state = Mutex(State(name: name, attributes: SpanAttributes(), links: []))
            return
        }
        // Built in place: a State assembled in a variable first was copied into the mutex.
        let (keptAttributes, droppedAttributes) = limits.limit(attributes)
        let (keptLinks, droppedLinks) = limits.limit(links)
        state = Mutex(State(name: name, attributes: keptAttributes, links: keptLinks,
                            droppedAttributes: droppedAttributes, droppedLinks: droppedLinks))
    }

    /// A context carrying this span, for `ServiceContext.withValue` or child spans.
    public var context: ServiceContext { ServiceContext(span: self) }

    /// The operation name.
    public var operationName: String {
        get { state.withLock { $0.name } }
        set {
            guard isRecording else { return }
            state.withLock { if !$0.ended { $0.name = newValue } }
        }
    }

    /// A snapshot of the attributes; empty once the span has ended (they went to the processor).
    public var attributes: SpanAttributes { state.withLock { $0.attributes } }

    /// The current status.
    public var status: SpanStatus { state.withLock { $0.status } }

    public var isEnded: Bool { state.withLock { $0.ended } }

    /// Sets (or replaces) one attribute.
    public func setAttribute(_ key: String, _ value: SpanAttribute) {
        guard isRecording else { return }
        state.withLock { state in
            if !state.ended { Span.set(key, value, in: &state, limits: limits) }
        }
    }

    /// Adds an attribute whose key the caller knows is not set yet, without searching for it:
    /// for instrumentation adding a span's fixed attributes (like `SpanAttributes.appendNew`).
    /// Past `SpanLimits.maxAttributes` it is dropped and counted, as `setAttribute` does.
    package func appendNewAttribute(_ key: consuming String, _ value: consuming SpanAttribute) {
        guard isRecording else { return }
        // Moved into the lock's closure: capturing them would copy them.
        var pending: (key: String, value: SpanAttribute)? = (key, value)
        state.withLock { state in
            guard !state.ended, let (key, value) = pending.take() else { return }
            if !state.attributes.appendNew(key, value, limit: limits.maxAttributes) { state.droppedAttributes += 1 }
        }
    }

    /// Sets several attributes at once.
    public func setAttributes(_ attributes: SpanAttributes) {
        guard isRecording else { return }
        state.withLock { state in
            guard !state.ended else { return }
            for (key, value) in attributes { Span.set(key, value, in: &state, limits: limits) }
        }
    }

    /// Adds a timestamped event.
    public func addEvent(_ name: String, attributes: SpanAttributes = [:], at timeUnixNano: UInt64? = nil) {
        guard isRecording else { return }
        let event = SpanEvent(name: name, timeUnixNano: timeUnixNano, attributes: attributes)
        state.withLock { state in
            guard !state.ended else { return }
            if state.events.count < limits.maxEvents { state.events.append(event) } else { state.droppedEvents += 1 }
        }
    }

    /// Records an error as an `exception` event with `exception.type` and
    /// `exception.message` (OpenTelemetry semantic conventions). Does not change the status.
    public func recordError(_ error: any Error, attributes: SpanAttributes = [:]) {
        guard isRecording else { return }
        var all: SpanAttributes = [
            // The module-qualified name, as String(reflecting:) writes it, without the mirror and
            // protocol lookups that cost a microsecond per call (a millisecond on the first).
            "exception.type": .string(_typeName(type(of: error), qualified: true)),
            "exception.message": .string(String(describing: error)),
        ]
        for (key, value) in attributes { all[key] = value }
        addEvent("exception", attributes: all)
    }

    /// Links this span to another span's context (for example every member request of a batch).
    public func addLink(_ context: TraceContext, attributes: SpanAttributes = [:]) {
        guard isRecording else { return }
        state.withLock { state in
            if !state.ended { Span.link(SpanLink(context, attributes: attributes), in: &state, limits: limits) }
        }
    }

    /// Adds several links under one lock (a batch span links every member request). The first
    /// links a span gets are kept as the array given, without a copy.
    public func addLinks(_ links: [SpanLink]) {
        guard isRecording, !links.isEmpty else { return }
        state.withLock { state in
            guard !state.ended else { return }
            if state.links.isEmpty && links.count <= limits.maxLinks {
                state.links = links
                return
            }
            state.links.reserveCapacity(min(state.links.count + links.count, limits.maxLinks))
            for link in links { Span.link(link, in: &state, limits: limits) }
        }
    }

    /// Sets the status. `.ok` is final; `.unset` is ignored (OpenTelemetry trace API, Set Status).
    public func setStatus(_ status: SpanStatus) {
        guard isRecording else { return }
        state.withLock { state in
            guard !state.ended, state.status != .ok else { return }
            switch status {
            case .unset: break
            case .ok, .error: state.status = status
            }
        }
    }

    /// Ends the span (only the first call counts) and passes it to the processor. Its
    /// attributes, events and links are moved into the ended span's data, not copied.
    public func end(at endTimeUnixNano: UInt64? = nil) {
        guard isRecording else { return }
        let end = endTimeUnixNano ?? SystemClock.unixNanoseconds()
        let data: SpanData? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            var attributes = SpanAttributes(), events: [SpanEvent] = [], links: [SpanLink] = []
            swap(&attributes, &state.attributes)
            swap(&events, &state.events)
            swap(&links, &state.links)
            return SpanData(name: state.name, kind: kind, context: traceContext, parentSpanID: parentSpanID,
                            parentIsRemote: parentIsRemote, startTimeUnixNano: startTimeUnixNano,
                            endTimeUnixNano: max(end, startTimeUnixNano), attributes: attributes,
                            events: events, links: links, status: state.status,
                            droppedAttributesCount: state.droppedAttributes, droppedEventsCount: state.droppedEvents,
                            droppedLinksCount: state.droppedLinks)
        }
        if let data, traceContext.isSampled { processor?.onEnd(data) }
    }

    private static func set(_ key: String, _ value: SpanAttribute, in state: inout State, limits: SpanLimits) {
        if !state.attributes.set(key, value, limit: limits.maxAttributes) { state.droppedAttributes += 1 }
    }

    private static func link(_ link: SpanLink, in state: inout State, limits: SpanLimits) {
        if state.links.count < limits.maxLinks { state.links.append(link) } else { state.droppedLinks += 1 }
    }
}

/// Caps on what one span keeps (OpenTelemetry defaults: 128 each); the excess is counted
/// in the exported `dropped*Count` fields.
public struct SpanLimits: Sendable, Hashable {
    public var maxAttributes = 128
    public var maxEvents = 128
    public var maxLinks = 128

    public init(maxAttributes: Int = 128, maxEvents: Int = 128, maxLinks: Int = 128) {
        self.maxAttributes = maxAttributes
        self.maxEvents = maxEvents
        self.maxLinks = maxLinks
    }

    /// `attributes` cut to `maxAttributes` (the first ones win), and how many were dropped.
    func limit(_ attributes: SpanAttributes) -> (kept: SpanAttributes, dropped: Int) {
        guard attributes.count > maxAttributes else { return (attributes, 0) }  // unique keys already
        var kept = SpanAttributes()
        var dropped = 0
        for (key, value) in attributes where !kept.set(key, value, limit: maxAttributes) { dropped += 1 }
        return (kept, dropped)
    }

    /// `links` cut to `maxLinks`, and how many were dropped.
    func limit(_ links: [SpanLink]) -> (kept: [SpanLink], dropped: Int) {
        guard links.count > maxLinks else { return (links, 0) }
        return (Array(links.prefix(maxLinks)), links.count - maxLinks)
    }
}
