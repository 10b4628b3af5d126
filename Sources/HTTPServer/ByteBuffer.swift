import Telemetry

/// HTTP's additions to the shared `ByteBuffer` (TelemetryCore), in which each event loop builds
/// its responses.
extension ByteBuffer {
    /// Appends UTF-8 text with control characters (CR and LF above all) replaced by spaces, so a
    /// header value can never start a new line.
    mutating func appendSanitised(_ text: String) {
        let start = count
        appendUTF8(text)
        // Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7F (the usual
        // case) needs no byte-wise look.
        let appended = mutableBytes(from: start)
        let written = appended.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let n = appended.count
        var i = 0
        while i + 8 <= n {
            let word = UnsafeRawPointer(written + i).loadUnaligned(as: UInt64.self)
            let low = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
            let flipped = word ^ 0x7F7F_7F7F_7F7F_7F7F
            let delete = (flipped &- 0x0101_0101_0101_0101) & ~flipped & 0x8080_8080_8080_8080
            if low | delete != 0 { ByteBuffer.sanitise(written + i, 8) }
            i += 8
        }
        if i < n { ByteBuffer.sanitise(written + i, n - i) }
    }

    /// Appends UTF-8 text as it is: for text that cannot hold control characters (a request id,
    /// which `RequestID` makes or accepts from a short list of characters).
    mutating func appendUTF8(_ text: String) {
        // Native and small strings are contiguous: no copy of the String itself.
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            if let source = utf8.baseAddress { append(UnsafeRawPointer(source), count: utf8.count) }
        }
        if done == nil {
            var copy = text
            copy.withUTF8 { utf8 in
                if let source = utf8.baseAddress { append(UnsafeRawPointer(source), count: utf8.count) }
            }
        }
    }

    /// Control characters other than HTAB become spaces.
    private static func sanitise(_ p: UnsafeMutablePointer<UInt8>, _ n: Int) {
        for i in 0..<n where p[i] < 0x20 || p[i] == 0x7F {
            if p[i] != 0x09 { p[i] = 0x20 }
        }
    }

    /// A non-negative decimal (negative values are written as 0).
    mutating func appendDecimal(_ value: Int) {
        appendRaw(maxCount: 20) { $0.writeDecimal(UInt64(max(value, 0))) }
    }
}
