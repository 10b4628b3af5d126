import Synchronization
import TelemetryCore

/// A request's id: the client's `X-Request-Id` when acceptable, else one this process makes from a
/// random per-process prefix and a process-wide counter, both in hex (`9f3c01ab-1f`). A made id is
/// kept as its number and formatted only where it is read: the response header writes its bytes
/// directly, and most requests (probes, scrapes) are never logged.
enum RequestID: Sendable, Equatable, CustomStringConvertible {
    case generated(UInt64)
    case given(String)

    /// The per-process prefix, eight hex digits, as the bytes of one word (little-endian).
    private static let prefixWord: UInt64 = {
        let prefix = UInt32.random(in: 0...UInt32.max)
        var word: UInt64 = 0
        for i in 0..<8 { word |= UInt64(hexDigit(UInt64(prefix >> UInt32(28 - 4 * i)) & 0xF)) << (8 * UInt64(i)) }
        return word
    }()
    private static let counter = Atomic<UInt64>(0)
    /// Longest made id: eight hex digits, `-`, sixteen hex digits.
    static let maxGeneratedLength = 25

    static func next() -> RequestID {
        .generated(counter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// The id as text (up to 15 bytes it is a small, inline String).
    var description: String {
        switch self {
        case .given(let text):
            return text
        case .generated(let n):
            // Written on the stack first: a String made with room for more than 15 bytes is a heap
            // string even when fewer are used.
            var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            return withUnsafeMutableBytes(of: &bytes) { buffer in
                let stack = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let length = RequestID.write(n, to: stack)
                return String(unsafeUninitializedCapacity: length) { out in
                    out.baseAddress!.update(from: stack, count: length)  // hex is ASCII: nothing to validate
                    return length
                }
            }
        }
    }

    /// Appends the id's bytes: a made one needs no String, a client's was vetted by `isAcceptable`
    /// (no control characters).
    func write(into out: inout ByteBuffer) {
        switch self {
        case .given(let text):
            out.appendUTF8(text)
        case .generated(let n):
            out.appendRaw(maxCount: Self.maxGeneratedLength) { $0.skip(RequestID.write(n, to: $0.position)) }
        }
    }

    /// Writes the made id for `n` at `p`; returns its length.
    private static func write(_ n: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        UnsafeMutableRawPointer(p).storeBytes(of: prefixWord.littleEndian, as: UInt64.self)
        p[8] = 0x2D
        let digits = max(1, (64 - n.leadingZeroBitCount + 3) / 4)
        var v = n
        for i in stride(from: 8 + digits, to: 8, by: -1) {
            p[i] = hexDigit(v & 0xF)
            v >>= 4
        }
        return 9 + digits
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
    static func forRequest(_ headers: HTTPHeaders) -> RequestID {
        for field in headers.fields where field.name.utf8.count == 12 {
            if HTTPHeaders.equalsIgnoringCase(field.name, "x-request-id") {
                return isAcceptable(field.value) ? .given(field.value) : next()
            }
        }
        return next()
    }
}
