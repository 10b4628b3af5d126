import TelemetryCore

/// An attribute value: the OTLP `AnyValue` kinds this service uses.
public enum SpanAttribute: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case stringArray([String])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    /// Convenience for any integer.
    public static func int<I: BinaryInteger>(_ value: I) -> SpanAttribute { .int(Int64(clamping: value)) }
}

/// Ordered attributes with unique keys (setting an existing key replaces its value in place).
public struct SpanAttributes: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    /// One attribute. A struct rather than a `(key:value:)` tuple: an array of tuples is copied,
    /// grown and freed through the runtime's generic tuple witnesses, several times slower.
    public struct Entry: Sendable, Hashable {
        public let key: String
        public var value: SpanAttribute
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Empty, with room for `minimumCapacity` attributes (one allocation when that many are set).
    public init(minimumCapacity: Int) { entries.reserveCapacity(minimumCapacity) }

    public init(dictionaryLiteral elements: (String, SpanAttribute)...) {
        guard !elements.isEmpty else { return }  // `[:]`, a default argument on every span
        entries.reserveCapacity(elements.count)
        for (key, value) in elements { self[key] = value }
    }

    /// Where `key` is: keys of another length are passed over without comparing their bytes
    /// (a native string knows its UTF-8 length).
    private func index(of key: String) -> Int? {
        let count = key.utf8.count
        return entries.firstIndex { $0.key.utf8.count == count && $0.key == key }
    }

    public subscript(key: String) -> SpanAttribute? {
        get { index(of: key).map { entries[$0].value } }
        set {
            if let index = index(of: key) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }

    /// Sets `key` unless it is new and the list already holds `limit` entries; returns false
    /// when it was dropped. One search instead of a lookup and then a set.
    mutating func set(_ key: consuming String, _ value: consuming SpanAttribute, limit: Int) -> Bool {
        if let index = index(of: key) {
            entries[index].value = value
            return true
        }
        return appendNew(key, value, limit: limit)
    }

    /// Appends an attribute whose key the caller knows is not there yet (no search): for
    /// instrumentation building a span's fixed attributes.
    package mutating func appendNew(_ key: consuming String, _ value: consuming SpanAttribute) {
        assert(index(of: key) == nil, "attribute \(key) set twice")
        entries.append(Entry(key: key, value: value))
    }

    /// `appendNew` unless the list already holds `limit` entries; returns false when it was dropped.
    package mutating func appendNew(_ key: consuming String, _ value: consuming SpanAttribute, limit: Int) -> Bool {
        guard entries.count < limit else { return false }
        appendNew(key, value)
        return true
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The attributes in order, as `(key, value)` pairs.
    public struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[Entry]>
        public mutating func next() -> (key: String, value: SpanAttribute)? { base.next().map { ($0.key, $0.value) } }
    }

    public func makeIterator() -> Iterator { Iterator(base: entries.makeIterator()) }
}

/// The role of a span (OTLP `Span.SpanKind` numbers).
public enum SpanKind: Int, Sendable {
    case `internal` = 1
    case server = 2
    case client = 3
    case producer = 4
    case consumer = 5
}

/// A span's outcome (OTLP `Status`).
public enum SpanStatus: Sendable, Hashable {
    case unset
    case ok
    case error(message: String? = nil)

    /// OTLP `Status.StatusCode`: 0 unset, 1 ok, 2 error.
    public var code: Int {
        switch self {
        case .unset: 0
        case .ok: 1
        case .error: 2
        }
    }
}

/// A timestamped annotation on a span.
public struct SpanEvent: Sendable, Hashable {
    public var name: String
    public var timeUnixNano: UInt64
    public var attributes: SpanAttributes

    public init(name: String, timeUnixNano: UInt64? = nil, attributes: SpanAttributes = [:]) {
        self.name = name
        self.timeUnixNano = timeUnixNano ?? SystemClock.unixNanoseconds()
        self.attributes = attributes
    }
}

/// A reference from one span to another, possibly in a different trace (e.g. a batch span
/// to each member request's span).
public struct SpanLink: Sendable, Hashable {
    public var context: TraceContext
    public var attributes: SpanAttributes

    public init(_ context: TraceContext, attributes: SpanAttributes = [:]) {
        self.context = context
        self.attributes = attributes
    }
}

/// An immutable record of a finished span, handed to processors and exporters.
public struct SpanData: Sendable {
    public var name: String
    public var kind: SpanKind
    public var context: TraceContext
    public var parentSpanID: SpanID?
    public var parentIsRemote: Bool
    public var startTimeUnixNano: UInt64
    public var endTimeUnixNano: UInt64
    public var attributes: SpanAttributes
    public var events: [SpanEvent]
    public var links: [SpanLink]
    public var status: SpanStatus
    public var droppedAttributesCount: Int
    public var droppedEventsCount: Int
    public var droppedLinksCount: Int

    public var durationNanoseconds: UInt64 { endTimeUnixNano &- startTimeUnixNano }
}

/// Finished spans that differ only in their ids, parents and starts: one step that several
/// requests took together (the members of a batch wait in the queue until it starts, then
/// execute with it). Recorded in one call (`Tracer.recordSpans`) and handed to the processor
/// together, so that what they share is held, and can be encoded, once.
public struct SpanGroup: Sendable {
    public struct Member: Sendable {
        public var context: TraceContext
        public var parentSpanID: SpanID?
        public var parentIsRemote: Bool
        public var startTimeUnixNano: UInt64
    }

    public var name: String
    public var kind: SpanKind
    public var endTimeUnixNano: UInt64
    public var attributes: SpanAttributes
    public var links: [SpanLink]
    public var status: SpanStatus
    public var droppedAttributesCount: Int
    public var droppedLinksCount: Int
    public var members: [Member]

    /// The span of the member at `index`.
    public func span(_ index: Int) -> SpanData {
        let member = members[index]
        return SpanData(name: name, kind: kind, context: member.context, parentSpanID: member.parentSpanID,
                        parentIsRemote: member.parentIsRemote, startTimeUnixNano: member.startTimeUnixNano,
                        endTimeUnixNano: endTimeUnixNano, attributes: attributes, events: [], links: links, status: status,
                        droppedAttributesCount: droppedAttributesCount, droppedEventsCount: 0,
                        droppedLinksCount: droppedLinksCount)
    }
}
