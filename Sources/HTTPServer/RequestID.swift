import Synchronization

/// Request ids: a random per-process prefix and a process-wide counter, both in hex
/// (`9f3c01ab-1f`). Cheap enough for every request; ids up to 15 bytes stay inline in `String`.
enum RequestID {
    private static let prefix: UInt32 = .random(in: 0...UInt32.max)
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        // Built on the stack so that ids of up to 15 bytes become small (inline) strings.
        var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &bytes) { buffer in
            var i = 0
            var shift = 28
            while shift >= 0 {
                buffer[i] = hexDigit(UInt64(prefix >> UInt32(shift)) & 0xF)
                i += 1
                shift -= 4
            }
            buffer[i] = 0x2D
            i += 1
            var digits = 1
            while digits < 16 && n >> (4 * UInt64(digits)) != 0 { digits += 1 }
            for d in stride(from: digits - 1, through: 0, by: -1) {
                buffer[i] = hexDigit((n >> (4 * UInt64(d))) & 0xF)
                i += 1
            }
            // Hex is ASCII: up to 15 bytes this builds a small string without validating it.
            let length = i
            return String(unsafeUninitializedCapacity: length) { out in
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: buffer.baseAddress!, byteCount: length)
                return length
            }
        }
    }

    @inline(__always) private static func hexDigit(_ v: UInt64) -> UInt8 {
        v < 10 ? UInt8(0x30 + v) : UInt8(0x61 + v - 10)
    }

    /// Longest client-supplied `X-Request-Id` reused as the request id.
    static let maxClientLength = 128

    /// Whether a client-supplied id is safe to log and echo: 1-128 bytes of `[A-Za-z0-9._:+/=-]`.
    static func isAcceptable(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= maxClientLength else { return false }
        for c in utf8 {
            switch c {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2E, 0x5F, 0x3A, 0x2B, 0x2F, 0x3D, 0x2D: continue
            default: return false
            }
        }
        return true
    }

    /// The id for a request: the client's `X-Request-Id` when acceptable, else a fresh one.
    static func forRequest(_ headers: HTTPHeaders) -> String {
        for field in headers.fields where field.name.utf8.count == 12 {
            if HTTPHeaders.equalsIgnoringCase(field.name, "x-request-id") {
                return isAcceptable(field.value) ? field.value : next()
            }
        }
        return next()
    }
}
