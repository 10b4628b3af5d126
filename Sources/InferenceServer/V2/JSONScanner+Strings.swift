import InferenceCore

extension JSONScanner {
    /// Parses the string starting at the cursor (which is on its opening quote).
    mutating func parseString() throws(InferenceError) -> String {
        var decoded: [UInt8] = []
        if let raw = try scanString(collect: true, into: &decoded) {
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[raw]), as: UTF8.self)
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// Validates and skips the string starting at the cursor.
    mutating func skipString() throws(InferenceError) {
        var unused: [UInt8] = []
        _ = try scanString(collect: false, into: &unused)
    }

    /// Scans a string, checking RFC 8259 §7 (escapes, no raw control characters) and RFC 3629 UTF-8.
    /// Returns the byte range of the contents when they hold no escapes (the common case, no copy);
    /// otherwise returns nil and, if `collect` is set, appends the unescaped UTF-8 to `output`.
    private mutating func scanString(collect: Bool, into output: inout [UInt8]) throws(InferenceError) -> Range<Int>? {
        let open = position
        position += 1
        let contentStart = position
        var escaped = false
        while position < end {
            let byte = buffer[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return escaped ? nil : contentStart..<(position - 1)
            case UInt8(ascii: "\\"):
                if !escaped {
                    escaped = true
                    if collect { output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[contentStart..<position])) }
                }
                try scanEscape(collect: collect, into: &output)
            case 0..<0x20:
                throw syntaxError("unescaped control character \(Self.describeByte(byte)) in a string", at: position)
            case 0x20..<0x80:
                if escaped && collect { output.append(byte) }
                position += 1
            default:
                let start = position
                try scanUTF8Sequence()
                if escaped && collect { output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<position])) }
            }
        }
        throw syntaxError("unterminated string starting", at: open)
    }

    /// Consumes one multi-byte UTF-8 sequence (RFC 3629 §4, Unicode Table 3-7: no overlongs, no surrogates,
    /// nothing above U+10FFFF).
    private mutating func scanUTF8Sequence() throws(InferenceError) {
        let start = position
        let lead = buffer[position]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw syntaxError("invalid UTF-8 in a string", at: start)
        }
        guard start + length <= end else { throw syntaxError("invalid UTF-8 in a string", at: start) }
        let second = buffer[start + 1]
        guard second >= low && second <= high else { throw syntaxError("invalid UTF-8 in a string", at: start) }
        for i in 2..<length where buffer[start + i] & 0xC0 != 0x80 {
            throw syntaxError("invalid UTF-8 in a string", at: start)
        }
        position = start + length
    }

    /// Consumes one escape sequence (cursor on the backslash).
    private mutating func scanEscape(collect: Bool, into output: inout [UInt8]) throws(InferenceError) {
        let start = position
        guard position + 1 < end else { throw syntaxError("unterminated escape sequence", at: start) }
        let letter = buffer[position + 1]
        position += 2
        let simple: UInt8
        switch letter {
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            var scalar = UInt32(try readHex4(escapeAt: start))
            if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw syntaxError("unpaired UTF-16 surrogate in a \\u escape", at: start)
            }
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                // RFC 8259 §7: a character outside the BMP is escaped as a UTF-16 surrogate pair.
                guard position + 1 < end, buffer[position] == UInt8(ascii: "\\"), buffer[position + 1] == UInt8(ascii: "u") else {
                    throw syntaxError("unpaired UTF-16 surrogate in a \\u escape", at: start)
                }
                let lowStart = position
                position += 2
                let low = UInt32(try readHex4(escapeAt: lowStart))
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw syntaxError("unpaired UTF-16 surrogate in a \\u escape", at: start)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            if collect { Self.appendUTF8(scalar, to: &output) }
            return
        default:
            throw syntaxError("invalid escape sequence \\\(Self.describeByte(letter))", at: start)
        }
        if collect { output.append(simple) }
    }

    private mutating func readHex4(escapeAt start: Int) throws(InferenceError) -> UInt16 {
        guard position + 4 <= end else { throw syntaxError("truncated \\u escape", at: start) }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = buffer[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw syntaxError("invalid hex digit in a \\u escape", at: start)
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    static func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | (scalar >> 6)))
            output.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | (scalar >> 12)))
            output.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            output.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            output.append(UInt8(0xF0 | (scalar >> 18)))
            output.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            output.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            output.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
