extension ByteCursor {
    /// `text` as a quoted JSON string (see `writeJSONEscaped`); at most
    /// `maxJSONEscapedLength(text.utf8.count) + 2` bytes.
    @inlinable package mutating func writeJSONString(_ text: String) {
        write(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { writeJSONEscaped($0) }
        write(UInt8(ascii: "\""))
    }

    /// Whether any of the eight bytes in `word` is below 0x20, `"`, `\\`, 0x7F or 0xE2 (the
    /// bytes `writeJSONEscaped` looks at), with the usual SWAR zero-byte tests.
    @inlinable @inline(__always)
    static func mayNeedJSONEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let control = (word &- 0x20 &* ones) & ~word & highs
        return control | hasZeroByte(word ^ (0x22 &* ones)) | hasZeroByte(word ^ (0x5C &* ones))
            | hasZeroByte(word ^ (0x7F &* ones)) | hasZeroByte(word ^ (0xE2 &* ones)) != 0
    }

    /// Most bytes `writeJSONEscaped` writes for `count` input bytes (`\u00XX` per byte).
    @inlinable package static func maxJSONEscapedLength(_ count: Int) -> Int { 6 * count }

    /// Most bytes `writeJSONString` writes for `text`: its length plus the quotes when no byte
    /// needs escaping (a quick scan), else `maxJSONEscapedLength`. Keeps buffers sized to the
    /// text instead of six times it.
    @inlinable package static func jsonStringBound(_ text: String) -> Int {
        var text = text
        return 2 + text.withUTF8 { needsJSONEscaping($0) ? maxJSONEscapedLength($0.count) : $0.count }
    }

    /// Whether any byte of `bytes` is one `writeJSONEscaped` changes (a superset: E2 bytes
    /// that do not start U+2028/U+2029 count too).
    @inlinable static func needsJSONEscaping(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        var i = 0
        while i + 8 <= bytes.count {
            if mayNeedJSONEscape(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) { return true }
            i += 8
        }
        while i < bytes.count {
            let b = base[i]
            if b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F || b == 0xE2 { return true }
            i += 1
        }
        return false
    }

    /// `bytes` escaped for the inside of a JSON string (RFC 8259): quote, backslash and control
    /// characters escaped, plus U+2028/U+2029 so the text is also valid JavaScript. Runs that
    /// need no escaping (nearly everything) are copied whole.
    @inlinable package mutating func writeJSONEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        var start = 0
        var i = 0
        while i < n {
            // Eight bytes at a time while none of them needs a look; the last eight of the
            // text (overlapping bytes already seen) for a shorter rest.
            if i &+ 8 <= n {
                if !ByteCursor.mayNeedJSONEscape(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) {
                    i &+= 8
                    continue
                }
            } else if n >= 8 && !ByteCursor.mayNeedJSONEscape(UnsafeRawPointer(base + (n &- 8)).loadUnaligned(as: UInt64.self)) {
                break
            }
            let b = base[i]
            // Printable ASCII other than `"` and `\`, and UTF-8 lead and continuation bytes
            // other than E2 (which starts U+2028/U+2029), pass through.
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F && b != 0xE2 {
                i &+= 1
                continue
            }
            if b == 0xE2 {
                guard i &+ 2 < n, base[i &+ 1] == 0x80, base[i &+ 2] == 0xA8 || base[i &+ 2] == 0xA9 else {
                    i &+= 1
                    continue
                }
                write(base + start, count: i &- start)
                write(base[i &+ 2] == 0xA8 ? "\\u2028" : "\\u2029")
                i &+= 3
                start = i
                continue
            }
            write(base + start, count: i &- start)
            switch b {
            case 0x22: write("\\\"")
            case 0x5C: write("\\\\")
            case 0x0A: write("\\n")
            case 0x0D: write("\\r")
            case 0x09: write("\\t")
            case 0x08: write("\\b")
            case 0x0C: write("\\f")
            default:
                let hex: StaticString = "0123456789abcdef"
                write("\\u00")
                write(hex.utf8Start[Int(b >> 4)])
                write(hex.utf8Start[Int(b & 0xF)])
            }
            i &+= 1
            start = i
        }
        write(base + start, count: n &- start)  // `break` above leaves the rest clean
    }
}
