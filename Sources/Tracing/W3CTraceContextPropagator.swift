import TelemetryCore

/// Reads and writes `traceparent`/`tracestate` through header accessors, so it works with
/// any HTTP type.
///
///     let parent = W3CTraceContextPropagator().extract { request.headers[$0] }
///     W3CTraceContextPropagator().inject(span.traceContext) { response.headers[$0] = $1 }
public struct W3CTraceContextPropagator: Sendable {
    public static let traceparentHeader = "traceparent"
    public static let tracestateHeader = "tracestate"

    public init() {}

    /// The remote parent context, or nil when `traceparent` is missing or invalid (a new
    /// trace is then started). `header` receives lowercase names and should look them up
    /// case-insensitively, combining repeated `tracestate` fields with commas (RFC 9110).
    public func extract(_ header: (String) -> String?) -> TraceContext? {
        try? extractOrThrow(header)
    }

    /// Like `extract`, but says why an invalid `traceparent` was rejected; nil when absent.
    public func extractOrThrow(_ header: (String) -> String?) throws(TraceParentError) -> TraceContext? {
        guard let traceparent = header(Self.traceparentHeader) else { return nil }
        return try TraceContext(traceparent: traceparent, tracestate: header(Self.tracestateHeader))
    }

    /// Writes `traceparent` and, when non-empty, `tracestate`.
    public func inject(_ context: TraceContext, _ setHeader: (String, String) -> Void) {
        setHeader(Self.traceparentHeader, context.traceparent)
        if let tracestate = context.tracestate { setHeader(Self.tracestateHeader, tracestate) }
    }
}
