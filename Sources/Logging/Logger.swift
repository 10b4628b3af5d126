/// A value that writes log records through the bootstrapped `LogHandler`, shaped like swift-log.
///
///     var logger = Logger(label: "http")
///     logger[metadataKey: "model.name"] = "digits"
///     logger.info("request completed", metadata: ["http.status": "\(status)"])
public struct Logger: Sendable {
    public let label: String
    public var handler: any LogHandler

    public init(label: String) {
        self.label = label
        self.handler = LoggingSystem.makeHandler(label: label)
    }

    public init(label: String, handler: any LogHandler) {
        self.label = label
        self.handler = handler
    }

    public var logLevel: Level {
        get { handler.logLevel }
        set { handler.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> MetadataValue? {
        get { handler[metadataKey: key] }
        set { handler[metadataKey: key] = newValue }
    }

    @inlinable
    public func log(level: Level, _ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil,
                    source: String? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        guard level >= handler.logLevel else { return }
        handler.log(level: level, message: message(), metadata: metadata(), source: source ?? label,
                    file: file, function: function, line: line)
    }

    @inlinable public func trace(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .trace, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func debug(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .debug, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func info(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .info, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func notice(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .notice, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func warning(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .warning, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func error(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .error, message(), metadata: metadata(), file: file, function: function, line: line)
    }
    @inlinable public func critical(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .critical, message(), metadata: metadata(), file: file, function: function, line: line)
    }
}

extension Logger {
    /// Severity, ordered from most to least verbose.
    public enum Level: String, Sendable, Comparable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        @usableFromInline var rank: Int {
            switch self {
            case .trace: 0
            case .debug: 1
            case .info: 2
            case .notice: 3
            case .warning: 4
            case .error: 5
            case .critical: 6
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
    }

    public typealias Metadata = [String: MetadataValue]

    /// A metadata value: a string, a nested dictionary or an array, as in swift-log.
    public enum MetadataValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
        CustomStringConvertible, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
    {
        case string(String)
        case stringConvertible(any CustomStringConvertible & Sendable)
        case dictionary(Metadata)
        case array([MetadataValue])

        public init(stringLiteral value: String) { self = .string(value) }
        public init(arrayLiteral elements: MetadataValue...) { self = .array(elements) }
        public init(dictionaryLiteral elements: (String, MetadataValue)...) {
            self = .dictionary(Dictionary(elements, uniquingKeysWith: { $1 }))
        }

        public var description: String {
            switch self {
            case .string(let s): s
            case .stringConvertible(let c): c.description
            case .dictionary(let d): d.description
            case .array(let a): a.description
            }
        }

        public static func == (lhs: MetadataValue, rhs: MetadataValue) -> Bool {
            switch (lhs, rhs) {
            case (.string(let a), .string(let b)): a == b
            case (.stringConvertible(let a), .stringConvertible(let b)): a.description == b.description
            case (.dictionary(let a), .dictionary(let b)): a == b
            case (.array(let a), .array(let b)): a == b
            default: false
            }
        }
    }
}
