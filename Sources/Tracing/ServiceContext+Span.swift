import TelemetryCore

extension ServiceContext {
    /// The active local span, if any.
    public var span: Span? {
        get { spanObject as? Span }
        set { spanObject = newValue }
    }

    public init(span: Span) {
        self.init(spanObject: span, traceContext: span.traceContext)
    }
}
