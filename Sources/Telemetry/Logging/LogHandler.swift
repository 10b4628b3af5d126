import Synchronization

/// Writes log records; `Logger` forwards to it. Shaped like swift-log's `LogHandler`.
public protocol LogHandler: Sendable {
    func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt)
    subscript(metadataKey key: String) -> Logger.MetadataValue? { get set }
    var metadata: Logger.Metadata { get set }
    var logLevel: Logger.Level { get set }
}

/// The process-wide choice of log handler, made once at startup.
public enum LoggingSystem {
    private static let factory = Mutex<@Sendable (String) -> any LogHandler>({ label in
        StreamLogHandler(label: label)
    })

    /// Installs the handler factory every `Logger(label:)` made afterwards uses.
    public static func bootstrap(_ make: @escaping @Sendable (String) -> any LogHandler) {
        factory.withLock { $0 = make }
    }

    static func makeHandler(label: String) -> any LogHandler {
        factory.withLock { $0 }(label)
    }
}
