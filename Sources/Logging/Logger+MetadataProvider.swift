import TelemetryCore

extension Logger {
    /// Supplies metadata from the surrounding context at the moment a record is written,
    /// as swift-log's `Logger.MetadataProvider` does. Handlers merge it between their own
    /// metadata and the call's (the call wins).
    public struct MetadataProvider: Sendable {
        private let provide: @Sendable () -> Metadata
        /// True only for `traceContext`, whose two ids `JSONLogHandler` writes itself
        /// without building a dictionary.
        let isTraceContext: Bool

        public init(_ provide: @escaping @Sendable () -> Metadata) {
            self.provide = provide
            isTraceContext = false
        }

        private init(isTraceContext: Bool, _ provide: @escaping @Sendable () -> Metadata) {
            self.provide = provide
            self.isTraceContext = isTraceContext
        }

        public func get() -> Metadata { provide() }

        /// Combines providers; later ones win on equal keys. Nil for an empty list.
        public static func multiplex(_ providers: [MetadataProvider]) -> MetadataProvider? {
            guard !providers.isEmpty else { return nil }
            return MetadataProvider {
                var merged: Metadata = [:]
                for provider in providers { merged.merge(provider.get()) { $1 } }
                return merged
            }
        }

        /// `trace_id` and `span_id` of the span bound to the current task or thread
        /// (`ServiceContext.current`); nothing outside a span.
        public static let traceContext = MetadataProvider(isTraceContext: true, {
            guard let context = ServiceContext.current?.traceContext, context.traceID.isValid else { return [:] }
            return ["trace_id": .string(context.traceID.description), "span_id": .string(context.spanID.description)]
        })
    }

    /// A logger whose handler receives `metadataProvider` instead of the bootstrapped one.
    public init(label: String, metadataProvider: MetadataProvider?) {
        self.init(label: label, handler: LoggingSystem.makeHandler(label: label, metadataProvider: metadataProvider))
    }
}

extension Logger.Metadata {
    /// `handler` < `provider` < `call`, as swift-log merges them.
    static func merged(handler: Logger.Metadata, provider: Logger.MetadataProvider?, call: Logger.Metadata?) -> Logger.Metadata {
        var all = handler
        if let provided = provider?.get(), !provided.isEmpty { all.merge(provided) { $1 } }
        if let call, !call.isEmpty { all.merge(call) { $1 } }
        return all
    }
}
