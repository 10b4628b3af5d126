import InferenceCore

/// A JSON value, as used for Open Inference Protocol `parameters` objects.
///
/// Integer literals that fit in `Int64` (`12`, `-3`) become `.int`; every other number becomes `.double`.
public enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses a complete JSON text (RFC 8259), with the same limits as request decoding: nesting up to 64
    /// levels, valid UTF-8, no duplicate object keys, numbers within `Double`'s range.
    /// - Throws: `InferenceError(.invalidRequest, …)` naming the byte where the text is malformed.
    public static func parse(_ bytes: [UInt8]) throws(InferenceError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(InferenceError) -> JSONValue in
            var scanner = JSONScanner(buffer: buffer, end: buffer.count)
            let value = try scanner.parseValue(depth: 0)
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw scanner.syntaxError("unexpected data after the JSON value", at: scanner.position) }
            return value
        }
    }

    /// The value of `.bool`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value of `.int`, or of a `.double` holding an integer that fits in `Int`.
    public var intValue: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .double(let value): return Int(exactly: value)
        default: return nil
        }
    }

    /// The value of `.int` or `.double` as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The value of `.string`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// Compact JSON text (object keys sorted, so the output is deterministic).
    public var description: String {
        var writer = JSONWriter()
        writer.value(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The JSON type name, for error messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
