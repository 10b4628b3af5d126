#if canImport(Glibc)
import Glibc
#endif

/// A plain-text handler writing to standard error; the default before `LoggingSystem.bootstrap`.
public struct StreamLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.MetadataValue? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        let all = Logger.Metadata.merged(handler: self.metadata, provider: metadataProvider, call: metadata)
        var text = "\(level.rawValue) \(label): \(message)"
        for key in all.keys.sorted() { text += " \(key)=\(all[key]!)" }
        text += "\n"
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
