/// Small helpers for writing JSON and plain text straight into a byte buffer.
extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendASCII(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func appendUTF8(_ text: String) {
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
        let hex: StaticString = "0123456789abcdef"
        var start = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            var escape: StaticString? = nil
            var unicode = false
            switch b {
            case 0x22: escape = "\\\""
            case 0x5C: escape = "\\\\"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0x08: escape = "\\b"
            case 0x0C: escape = "\\f"
            case 0x00..<0x20, 0x7F: unicode = true
            case 0xE2 where i + 2 < n && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                if start < i { append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
                appendASCII(bytes[i + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                i += 3
                start = i
                continue
            default: break
            }
            if escape != nil || unicode {
                if start < i { append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
                if let escape {
                    appendASCII(escape)
                } else {
                    appendASCII("\\u00")
                    hex.withUTF8Buffer { h in
                        append(h[Int(b >> 4)])
                        append(h[Int(b & 0xF)])
                    }
                }
                start = i + 1
            }
            i += 1
        }
        if start < n { append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<n])) }
    }

    /// Appends the decimal digits of an unsigned integer.
    mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            append(UInt8(truncatingIfNeeded: 48 &+ value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { scratch in
            var v = value
            var pos = 20
            while v > 0 {
                pos -= 1
                scratch[pos] = UInt8(truncatingIfNeeded: 48 &+ v % 10)
                v /= 10
            }
            append(contentsOf: UnsafeBufferPointer(rebasing: scratch[pos..<20]))
        }
    }

    mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(value.magnitude)
        } else {
            appendDecimal(UInt64(value))
        }
    }
}
