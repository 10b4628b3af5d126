import Synchronization

/// Writes log records; `Logger` forwards to it. Shaped like swift-log's `LogHandler`.
public protocol LogHandler: Sendable {
    func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt)
    /// Writes a record whose fields come as an ordered `Logger.Fields` list (hot paths). The
    /// default passes them as metadata to the method above.
    func log(level: Logger.Level, message: String, fields: Logger.Fields, source: String,
             file: String, function: String, line: UInt)
    subscript(metadataKey key: String) -> Logger.MetadataValue? { get set }
    var metadata: Logger.Metadata { get set }
    var logLevel: Logger.Level { get set }
    /// Adds contextual metadata (e.g. the current trace ids) to every record.
    var metadataProvider: Logger.MetadataProvider? { get set }
}

extension LogHandler {
    /// Handlers that do not store a provider use the bootstrapped one.
    public var metadataProvider: Logger.MetadataProvider? {
        get { LoggingSystem.metadataProvider }
        set {}
    }
}

/// The process-wide choice of log handler, made once at startup.
public enum LoggingSystem {
    private struct Configuration {
        var factory: @Sendable (String, Logger.MetadataProvider?) -> any LogHandler
        var metadataProvider: Logger.MetadataProvider?
    }

    private static let configuration = Mutex(Configuration(
        factory: { label, _ in StreamLogHandler(label: label) }, metadataProvider: nil))

    /// Installs the handler factory every `Logger(label:)` made afterwards uses.
    public static func bootstrap(_ make: @escaping @Sendable (String) -> any LogHandler) {
        configuration.withLock { $0.factory = { label, _ in make(label) } }
    }

    /// Installs a factory and a metadata provider (swift-log's
    /// `bootstrap(_:metadataProvider:)`); the factory receives the provider to store.
    public static func bootstrap(_ make: @escaping @Sendable (String, Logger.MetadataProvider?) -> any LogHandler,
                                 metadataProvider: Logger.MetadataProvider?) {
        configuration.withLock {
            $0.factory = make
            $0.metadataProvider = metadataProvider
        }
    }

    /// The bootstrapped metadata provider, if any.
    public static var metadataProvider: Logger.MetadataProvider? {
        configuration.withLock { $0.metadataProvider }
    }

    static func makeHandler(label: String) -> any LogHandler {
        let (factory, provider) = configuration.withLock { ($0.factory, $0.metadataProvider) }
        return factory(label, provider)
    }

    static func makeHandler(label: String, metadataProvider: Logger.MetadataProvider?) -> any LogHandler {
        let factory = configuration.withLock { $0.factory }
        return factory(label, metadataProvider)
    }
}
