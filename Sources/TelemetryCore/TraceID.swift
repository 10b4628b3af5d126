#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A 16-byte W3C trace id, stored as two big-endian halves.
public struct TraceID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0–7 (big-endian).
    public var high: UInt64
    /// Bytes 8–15 (big-endian). Its low 56 bits are the W3C Level 2 randomness.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero id, which the W3C spec forbids on the wire.
    public static let invalid = TraceID(high: 0, low: 0)

    public var isValid: Bool { high != 0 || low != 0 }

    /// A new random, valid id.
    public static func random() -> TraceID {
        while true {
            let id = TraceID(high: IDGenerator.next(), low: IDGenerator.next())
            if id.isValid { return id }
        }
    }

    /// Parses 32 lowercase hex digits; nil for anything else.
    public init?<S: StringProtocol>(hexString: S) {
        var utf8 = Array(hexString.utf8)
        guard utf8.count == 32,
              let high = utf8.withUnsafeMutableBufferPointer({ HexCoding.parseLowercase($0[0..<16]) }),
              let low = utf8.withUnsafeMutableBufferPointer({ HexCoding.parseLowercase($0[16..<32]) })
        else { return nil }
        self.init(high: high, low: low)
    }

    /// The 16 bytes in wire order.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// 32 lowercase hex digits.
    public var description: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            ByteFormat.writeHex(high, to: buffer.baseAddress!) + ByteFormat.writeHex(low, to: buffer.baseAddress! + 16)
        }
    }

    @inlinable @inline(__always)
    package func appendHex(to buffer: inout [UInt8]) {
        buffer.appendRaw(maxCount: 32) { $0.writeHex(self) }
    }
}

/// An 8-byte W3C span id (`parent-id` in `traceparent`).
public struct SpanID: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static let invalid = SpanID(0)

    public var isValid: Bool { value != 0 }

    /// A new random, valid id.
    public static func random() -> SpanID {
        while true {
            let value = IDGenerator.next()
            if value != 0 { return SpanID(value) }
        }
    }

    /// Parses 16 lowercase hex digits; nil for anything else.
    public init?<S: StringProtocol>(hexString: S) {
        var utf8 = Array(hexString.utf8)
        guard utf8.count == 16,
              let value = utf8.withUnsafeMutableBufferPointer({ HexCoding.parseLowercase($0[0..<16]) })
        else { return nil }
        self.init(value)
    }

    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    /// 16 lowercase hex digits.
    public var description: String {
        String(unsafeUninitializedCapacity: 16) { ByteFormat.writeHex(value, to: $0.baseAddress!) }
    }

    @inlinable @inline(__always)
    package func appendHex(to buffer: inout [UInt8]) { buffer.appendRaw(maxCount: 16) { $0.writeHex(value) } }
}

enum HexCoding {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Value of one lowercase hex digit, or nil (uppercase is rejected on purpose: W3C
    /// `HEXDIGLC`).
    @inline(__always)
    static func lowercaseNibble(_ byte: UInt8) -> UInt64? {
        switch byte {
        case 0x30...0x39: UInt64(byte - 0x30)
        case 0x61...0x66: UInt64(byte - 0x61 + 10)
        default: nil
        }
    }

    static func parseLowercase(_ bytes: Slice<UnsafeMutableBufferPointer<UInt8>>) -> UInt64? {
        var value: UInt64 = 0
        for byte in bytes {
            guard let nibble = lowercaseNibble(byte) else { return nil }
            value = value << 4 | nibble
        }
        return value
    }
}

/// Fast, thread-safe id source: SplitMix64 over atomic counters seeded from the system RNG.
/// Every call is one atomic add plus a few multiplies; distinct calls on one counter yield
/// distinct outputs (the finaliser is a bijection), and the output passes standard
/// statistical tests, which is what trace-id randomness (W3C Level 2, 56 random low bits)
/// asks for. Not for secrets.
///
/// There are 16 counters, each on its own cache line, picked by the calling thread: when
/// event-loop threads make ids at the same time, a single shared counter would move its cache
/// line between cores on every id.
package enum IDGenerator {
    private static let stripeCount = 16
    /// Words between counters: 8 × 8 bytes, one cache line.
    private static let stripeWords = 8

    // nonisolated(unsafe): allocated and initialised once, never freed or reassigned; every
    // access goes through the Atomic stored there.
    nonisolated(unsafe) private static let counters: UnsafeMutablePointer<Atomic<UInt64>> = {
        let words = stripeCount * stripeWords
        let raw = UnsafeMutableRawPointer.allocate(byteCount: words * 8, alignment: 64)
        let counters = raw.bindMemory(to: Atomic<UInt64>.self, capacity: words)
        var system = SystemRandomNumberGenerator()
        for i in 0..<words { (counters + i).initialize(to: Atomic(system.next())) }
        return counters
    }()

    @inline(__always)
    package static func next() -> UInt64 {
        // Threads are told apart by their pthread handle (the address of their control block).
        let thread = UInt64(pthread_self())
        let stripe = Int(truncatingIfNeeded: (thread &* 0x9E37_79B9_7F4A_7C15) >> 60)
        let s = counters[stripe * stripeWords].wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
