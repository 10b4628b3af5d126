import TelemetryCore

/// Human-readable lines on standard output (`LOG_FORMAT=text`), through the same
/// non-blocking `LogLineWriter` as the JSON handler:
///
///     2026-12-04T15:04:05.123Z info http: request completed trace_id=… span_id=… http.status=200
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    let writer: LogLineWriter

    public init(label: String, logLevel: Logger.Level = .info,
                metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
                writer: LogLineWriter = .standardOutput) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.writer = writer
    }

    public subscript(metadataKey key: String) -> Logger.MetadataValue? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        let all = Logger.Metadata.merged(handler: self.metadata, provider: metadataProvider, call: metadata)
        var out: [UInt8] = []
        out.reserveCapacity(128 + message.utf8.count)
        out.appendRFC3339Milliseconds(unixNanoseconds: SystemClock.unixNanoseconds())
        out.append(UInt8(ascii: " "))
        out.appendUTF8(level.rawValue)
        out.append(UInt8(ascii: " "))
        out.appendUTF8(label)
        out.appendASCII(": ")
        out.appendUTF8(message.replacingNewlines)
        let keys = all.keys.sorted { a, b in
            let ra = a == "trace_id" ? 0 : a == "span_id" ? 1 : 2
            let rb = b == "trace_id" ? 0 : b == "span_id" ? 1 : 2
            return ra != rb ? ra < rb : a < b
        }
        for key in keys {
            out.append(UInt8(ascii: " "))
            out.appendUTF8(key)
            out.append(UInt8(ascii: "="))
            let text = all[key]!.description.replacingNewlines
            if text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) {
                out.appendJSONString(text)
            } else {
                out.appendUTF8(text)
            }
        }
        out.append(UInt8(ascii: "\n"))
        writer.write(out)
    }
}

private extension String {
    /// Keeps one record on one line.
    var replacingNewlines: String {
        guard contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return self }
        var result = ""
        for c in self {
            switch c {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\r\n": result += "\\r\\n"
            default: result.append(c)
            }
        }
        return result
    }
}

/// The log line format chosen by `LOG_FORMAT`.
public enum LogFormat: String, Sendable {
    case json
    case text

    /// Parses `json` or `text` (case-insensitive); nil otherwise.
    public init?(environmentValue: String) {
        self.init(rawValue: environmentValue.trimmingSpaces.lowercased())
    }
}

extension LoggingSystem {
    /// Bootstraps the JSON or text handler on standard output, with `metadataProvider`
    /// (typically `.traceContext`) adding the current trace ids to every line.
    ///
    ///     LoggingSystem.bootstrap(format: .json, logLevel: .info, metadataProvider: .traceContext)
    public static func bootstrap(format: LogFormat, logLevel: Logger.Level = .info,
                                 metadataProvider: Logger.MetadataProvider? = .traceContext,
                                 writer: LogLineWriter = .standardOutput) {
        switch format {
        case .json:
            bootstrap({ label, provider in
                JSONLogHandler(label: label, logLevel: logLevel, metadataProvider: provider, writer: writer)
            }, metadataProvider: metadataProvider)
        case .text:
            bootstrap({ label, provider in
                TextLogHandler(label: label, logLevel: logLevel, metadataProvider: provider, writer: writer)
            }, metadataProvider: metadataProvider)
        }
    }
}
