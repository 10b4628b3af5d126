import TelemetryCore

/// Writes one JSON object per line to standard output through a `LogLineWriter`:
///
///     {"ts":"2026-12-04T15:04:05.123Z","level":"info","logger":"http","msg":"request completed",
///      "trace_id":"…","span_id":"…","http.status":"200"}
///
/// Timestamps are UTC with milliseconds. Metadata becomes top-level keys: nested
/// dictionaries are flattened with dots, arrays become JSON arrays. `trace_id` and `span_id`
/// come first, the rest sorted by key. Metadata keys that collide with `ts`, `level`,
/// `logger` or `msg` are written as `meta.<key>`.
public struct JSONLogHandler: LogHandler {
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
        writer.write(JSONLogHandler.formatLine(unixNanoseconds: SystemClock.unixNanoseconds(), level: level,
                                               label: label, message: message, metadata: all))
    }

    static let reservedKeys: Set<String> = ["ts", "level", "logger", "msg"]

    /// One complete line, newline included.
    static func formatLine(unixNanoseconds: UInt64, level: Logger.Level, label: String, message: String,
                           metadata: Logger.Metadata) -> [UInt8] {
        var out = startLine(unixNanoseconds: unixNanoseconds, level: level, label: label, message: message)

        var fields: [(String, Logger.MetadataValue)] = []
        flatten(metadata, prefix: "", into: &fields)
        fields.sort { a, b in
            let ra = rank(a.0), rb = rank(b.0)
            return ra != rb ? ra < rb : a.0 < b.0
        }
        for (key, value) in fields {
            out.append(UInt8(ascii: ","))
            out.appendJSONString(reservedKeys.contains(key) ? "meta." + key : key)
            out.append(UInt8(ascii: ":"))
            appendValue(value, to: &out)
        }
        out.appendASCII("}\n")
        return out
    }

    /// `{"ts":"…","level":"…","logger":…,"msg":…` with room reserved for the fields.
    static func startLine(unixNanoseconds: UInt64, level: Logger.Level, label: String, message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + message.utf8.count)
        out.appendRaw(maxCount: lineStartBound(label: label, message: message)) {
            writeLineStart(to: &$0, unixNanoseconds: unixNanoseconds, level: level, label: label, message: message)
        }
        return out
    }

    /// Most bytes `writeLineStart` writes.
    static func lineStartBound(label: String, message: String) -> Int {
        // `{"ts":"` + 24-byte time + `","level":"` + level (≤ 8) + `","logger":` + `,"msg":` = 68.
        80 + ByteCursor.jsonStringBound(label) + ByteCursor.jsonStringBound(message)
    }

    static func writeLineStart(to out: inout ByteCursor, unixNanoseconds: UInt64, level: Logger.Level,
                               label: String, message: String) {
        out.write("{\"ts\":\"")
        out.writeRFC3339Milliseconds(unixNanoseconds: unixNanoseconds)
        out.write("\",\"level\":\"")
        var level = level.rawValue
        level.withUTF8 { out.write($0) }
        out.write("\",\"logger\":")
        out.writeJSONString(label)
        out.write(",\"msg\":")
        out.writeJSONString(message)
    }

    private static func rank(_ key: String) -> Int {
        key == "trace_id" ? 0 : key == "span_id" ? 1 : 2
    }

    private static func flatten(_ metadata: Logger.Metadata, prefix: String, into fields: inout [(String, Logger.MetadataValue)]) {
        for (key, value) in metadata {
            if case .dictionary(let nested) = value {
                flatten(nested, prefix: prefix + key + ".", into: &fields)
            } else {
                fields.append((prefix + key, value))
            }
        }
    }

    static func appendValue(_ value: Logger.MetadataValue, to out: inout [UInt8]) {
        switch value {
        case .string(let s): out.appendJSONString(s)
        case .stringConvertible(let c):
            // Numbers and booleans stay JSON numbers and booleans, so log queries can compare them.
            switch c {
            case is any BinaryInteger, is Bool:
                out.append(contentsOf: c.description.utf8)
            case let d as Double where d.isFinite:
                out.append(contentsOf: d.description.utf8)
            case let f as Float where f.isFinite:
                out.append(contentsOf: f.description.utf8)
            default:
                out.appendJSONString(c.description)
            }
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (i, element) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let nested):
            out.append(UInt8(ascii: "{"))
            for (i, key) in nested.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.appendJSONString(key)
                out.append(UInt8(ascii: ":"))
                appendValue(nested[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
