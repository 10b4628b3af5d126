import InferenceCore

/// A forward-only JSON (RFC 8259) tokenizer over a byte buffer.
///
/// Every read is bounds-checked by hand (the buffer's own checks vanish in optimised builds), so any
/// input yields either a value or an `InferenceError(.invalidRequest, …)`; nothing traps. Nesting is
/// limited to `maxDepth` containers, which also bounds the recursion of `skipValue`/`parseValue`.
///
/// The scanner borrows its buffer: it must not outlive the `withUnsafeBufferPointer` call that made it.
struct JSONScanner {
    /// Containers (objects plus arrays) that may be open at once.
    static let maxDepth = 64

    let buffer: UnsafeBufferPointer<UInt8>
    /// One past the last byte of the JSON text (the binary tensor section, if any, starts here).
    let end: Int
    var position: Int

    init(buffer: UnsafeBufferPointer<UInt8>, start: Int = 0, end: Int) {
        self.buffer = buffer
        self.end = min(max(end, 0), buffer.count)
        self.position = min(max(start, 0), self.end)
    }

    /// The byte at the cursor, or 0 at the end of the text. 0 is never valid where a token is expected
    /// (and is rejected as a control character inside strings), so callers need no separate end check.
    @inline(__always) var current: UInt8 {
        position < end ? buffer[position] : 0
    }

    @inline(__always) var atEnd: Bool { position >= end }

    @inline(__always) mutating func skipWhitespace() {
        while position < end {
            switch buffer[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): position += 1
            default: return
            }
        }
    }

    // MARK: Errors

    /// An `invalidRequest` error describing what was expected at the cursor.
    func syntaxError(expected: String) -> InferenceError {
        syntaxError(expected: expected, at: position)
    }

    func syntaxError(expected: String, at offset: Int) -> InferenceError {
        if offset >= end {
            // A JSON part shorter than the body was cut by the Inference-Header-Content-Length header.
            let what = end < buffer.count ? "the JSON header (Inference-Header-Content-Length \(end))" : "the JSON text"
            return InferenceError(.invalidRequest, "body is not valid JSON: unexpected end of \(what) at byte \(offset), expected \(expected)")
        }
        return InferenceError(.invalidRequest, "body is not valid JSON: expected \(expected) at byte \(offset), found \(Self.describeByte(buffer[offset]))")
    }

    func syntaxError(_ problem: String, at offset: Int) -> InferenceError {
        InferenceError(.invalidRequest, "body is not valid JSON: \(problem) at byte \(offset)")
    }

    static func describeByte(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    /// What kind of JSON value starts with `byte`, for messages such as "found a string".
    static func describeValueStart(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): "a number"
        default: describeByte(byte)
        }
    }

    // MARK: Structure

    /// Consumes `byte` (after optional whitespace) or throws, naming `what` was expected.
    mutating func expect(_ byte: UInt8, _ what: String) throws(InferenceError) {
        skipWhitespace()
        guard current == byte else { throw syntaxError(expected: what) }
        position += 1
    }

    /// Checks that `depth` more containers may be opened.
    func checkDepth(_ depth: Int) throws(InferenceError) {
        if depth > Self.maxDepth {
            throw InferenceError(.invalidRequest, "body is not valid JSON: nesting deeper than \(Self.maxDepth) levels at byte \(position)")
        }
    }

    /// Iterates the members of an object whose `{` was just consumed. Returns the next key with the cursor on its
    /// value, or nil after consuming the closing `}`. `first` must start true and is managed here.
    mutating func nextKey(first: inout Bool) throws(InferenceError) -> String? {
        skipWhitespace()
        if first {
            first = false
            if current == UInt8(ascii: "}") { position += 1; return nil }
        } else {
            switch current {
            case UInt8(ascii: ","): position += 1; skipWhitespace()
            case UInt8(ascii: "}"): position += 1; return nil
            default: throw syntaxError(expected: "',' or '}' after an object member")
            }
        }
        guard current == UInt8(ascii: "\"") else { throw syntaxError(expected: "a string key") }
        let key = try parseString()
        try expect(UInt8(ascii: ":"), "':' after an object key")
        skipWhitespace()
        return key
    }

    /// Iterates the elements of an array whose `[` was just consumed. Returns true with the cursor on the next
    /// element, or false after consuming the closing `]`.
    mutating func nextElement(first: inout Bool) throws(InferenceError) -> Bool {
        skipWhitespace()
        if first {
            first = false
            if current == UInt8(ascii: "]") { position += 1; return false }
        } else {
            switch current {
            case UInt8(ascii: ","): position += 1; skipWhitespace()
            case UInt8(ascii: "]"): position += 1; return false
            default: throw syntaxError(expected: "',' or ']' after an array element")
            }
        }
        if current == UInt8(ascii: "]") { throw syntaxError(expected: "a value after ','") }
        return true
    }

    /// Consumes `literal` (`true`, `false`, `null`) starting at the cursor.
    mutating func expectLiteral(_ literal: StaticString) throws(InferenceError) {
        let count = literal.utf8CodeUnitCount
        let bytes = literal.utf8Start
        for i in 0..<count where position + i >= end || buffer[position + i] != bytes[i] {
            throw syntaxError(expected: "'\(literal)'", at: position)
        }
        position += count
    }

    // MARK: Values

    /// Validates and skips one value of any kind, allocating nothing.
    /// - Parameter depth: containers already open around the value.
    mutating func skipValue(depth: Int) throws(InferenceError) {
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{"):
            try checkDepth(depth + 1)
            position += 1
            var first = true
            while try skipKey(first: &first) { try skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try checkDepth(depth + 1)
            position += 1
            var first = true
            while try nextElement(first: &first) { try skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw syntaxError(expected: "a JSON value")
        }
    }

    /// `nextKey` without building the key string.
    private mutating func skipKey(first: inout Bool) throws(InferenceError) -> Bool {
        skipWhitespace()
        if first {
            first = false
            if current == UInt8(ascii: "}") { position += 1; return false }
        } else {
            switch current {
            case UInt8(ascii: ","): position += 1; skipWhitespace()
            case UInt8(ascii: "}"): position += 1; return false
            default: throw syntaxError(expected: "',' or '}' after an object member")
            }
        }
        guard current == UInt8(ascii: "\"") else { throw syntaxError(expected: "a string key") }
        try skipString()
        try expect(UInt8(ascii: ":"), "':' after an object key")
        return true
    }

    /// Parses one value of any kind into a `JSONValue`. Duplicate keys in an object are rejected.
    mutating func parseValue(depth: Int) throws(InferenceError) -> JSONValue {
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{"):
            try checkDepth(depth + 1)
            position += 1
            var members: [String: JSONValue] = [:]
            var first = true
            while true {
                let keyOffset = position
                guard let key = try nextKey(first: &first) else { break }
                let value = try parseValue(depth: depth + 1)
                if members.updateValue(value, forKey: key) != nil {
                    throw InferenceError(.invalidRequest, "body is not valid JSON: duplicate key \"\(key)\" at byte \(keyOffset)")
                }
            }
            return .object(members)
        case UInt8(ascii: "["):
            try checkDepth(depth + 1)
            position += 1
            var elements: [JSONValue] = []
            var first = true
            while try nextElement(first: &first) { elements.append(try parseValue(depth: depth + 1)) }
            return .array(elements)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let number = try scanNumber()
            if number.isIntegerLiteral, case .value(let v) = number.integerValue() { return .int(v) }
            guard let d = number.doubleValue(in: buffer), d.isFinite else {
                throw syntaxError("number out of the range of a 64-bit float", at: number.start)
            }
            return .double(d)
        default:
            throw syntaxError(expected: "a JSON value")
        }
    }
}
