/// Small helpers for writing JSON and plain text straight into a byte buffer.
extension Array where Element == UInt8 {
    @inlinable @inline(__always)
    package mutating func appendASCII(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }

    @inlinable @inline(__always)
    package mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }

    /// Appends `text` as a quoted JSON string (RFC 8259): quotes, backslashes and control
    /// characters escaped, plus U+2028/U+2029 so the line is also valid JavaScript. The one JSON
    /// string escaper of the service: logs, spans, error bodies and inference responses use it.
    public mutating func appendJSONString(_ text: String) {
        append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { appendJSONEscaped($0) }
        append(UInt8(ascii: "\""))
    }

    mutating func appendJSONEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        // Text that needs no escaping (the usual case) is copied as it is, whatever its length;
        // otherwise room for the longest escaping is made and trimmed.
        if !ByteCursor.needsJSONEscaping(bytes) {
            append(contentsOf: bytes)
        } else {
            appendRaw(maxCount: ByteCursor.maxJSONEscapedLength(bytes.count)) { $0.writeJSONEscaped(bytes) }
        }
    }

    /// Appends the decimal digits of an unsigned integer.
    @inlinable package mutating func appendDecimal(_ value: UInt64) {
        appendRaw(maxCount: ByteFormat.maxDecimalLength) { $0.writeDecimal(value) }
    }

    @inlinable package mutating func appendDecimal(_ value: Int64) {
        appendRaw(maxCount: ByteFormat.maxDecimalLength) { $0.writeDecimal(value) }
    }
}
