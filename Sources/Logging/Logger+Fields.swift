extension Logger {
    /// A short, ordered list of fields for log lines written on every request: one small
    /// array (no dictionary, no hashing, no sorting), written by `JSONLogHandler` straight
    /// into the line; every other handler receives the same fields as `Metadata`.
    ///
    ///     var fields = Logger.Fields()
    ///     fields.add("http.route", context.route)
    ///     fields.add("http.response.status_code", status)
    ///     logger.log(level: .info, "request completed", fields: fields)
    ///
    /// Add fields in ascending key order: the JSON handler writes them in the order given,
    /// where the `Metadata` path sorts its keys, so sorted fields produce the same line.
    /// Keys are static strings (field names are constants); values stay typed, so numbers
    /// are written as JSON numbers.
    public struct Fields: Sendable {
        public enum Value: Sendable {
            case string(String)
            case int(Int)
            case double(Double)
        }

        public struct Field: Sendable {
            public let key: StaticString
            public let value: Value
        }

        private var fields: [Field] = []

        /// `capacity`: how many fields will be added (one allocation for all of them).
        public init(capacity: Int = 8) { fields.reserveCapacity(capacity) }

        public var count: Int { fields.count }

        public mutating func add(_ key: StaticString, _ value: Value) {
            fields.append(Field(key: key, value: value))
        }

        public mutating func add(_ key: StaticString, _ value: String) { add(key, .string(value)) }
        public mutating func add(_ key: StaticString, _ value: Int) { add(key, .int(value)) }
        public mutating func add(_ key: StaticString, _ value: Double) { add(key, .double(value)) }

        public subscript(index: Int) -> Field { fields[index] }

        /// The fields as log metadata: strings as `.string`, numbers as `.stringConvertible`
        /// (as a caller of the `Metadata` API would pass them). A repeated key keeps its last value.
        public var metadata: Metadata {
            var metadata: Metadata = [:]
            metadata.reserveCapacity(count)
            for i in 0..<count {
                let field = self[i]
                let key = field.key.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
                switch field.value {
                case .string(let s): metadata[key] = .string(s)
                case .int(let n): metadata[key] = .stringConvertible(n)
                case .double(let d): metadata[key] = .stringConvertible(d)
                }
            }
            return metadata
        }
    }

    /// Logs `message` with `fields` (see `Fields`) when `level` is enabled. `fields` is only
    /// evaluated then.
    @inlinable
    public func log(level: Level, _ message: @autoclosure () -> String, fields: @autoclosure () -> Fields,
                    source: String? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        guard level >= handler.logLevel else { return }
        handler.log(level: level, message: message(), fields: fields(), source: source ?? label,
                    file: file, function: function, line: line)
    }
}

extension LogHandler {
    /// Handlers without a faster way receive the fields as metadata.
    public func log(level: Logger.Level, message: String, fields: Logger.Fields, source: String,
                    file: String, function: String, line: UInt) {
        log(level: level, message: message, metadata: fields.metadata, source: source,
            file: file, function: function, line: line)
    }
}
