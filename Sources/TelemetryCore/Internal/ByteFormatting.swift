/// Number and hex formatting straight into raw memory, for the writers that run per request
/// or per series (log lines, exposition, exemplars). Each `write…` function stores at most
/// its `max…Length` bytes at `p` and returns how many it wrote; callers make room first.
@usableFromInline package enum ByteFormat {
    /// Longest `writeDecimal` output (`UInt64.max` has 20 digits; Int64 adds a sign).
    @usableFromInline package static let maxDecimalLength = 20 + 1
    /// Longest `writeDouble` output (`-2.2250738585072014e-308` is 24 bytes).
    @usableFromInline package static let maxDoubleLength = 32

    /// "00" "01" … "99": two digits per table lookup. A static string literal needs no lazy
    /// initialisation check on each use, unlike a global array.
    @inlinable static var digitPairs: StaticString {
        """
        0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
        5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899
        """
    }

    /// Number of decimal digits of `value` (1 for 0).
    @inlinable @inline(__always)
    package static func decimalDigitCount(_ value: UInt64) -> Int {
        var count = 1
        var v = value
        while v >= 10_000 {
            v /= 10_000
            count += 4
        }
        if v >= 1000 { return count + 3 }
        if v >= 100 { return count + 2 }
        if v >= 10 { return count + 1 }
        return count
    }

    /// The decimal digits of `value`.
    @inlinable @inline(__always)
    static func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        if value < 10 {
            p.pointee = UInt8(truncatingIfNeeded: 48 &+ value)
            return 1
        }
        let count = decimalDigitCount(value)
        do {
            let pairs = digitPairs.utf8Start
            var v = value
            var end = count
            while v >= 100 {
                let pair = Int(truncatingIfNeeded: v % 100) &* 2
                v /= 100
                end &-= 2
                p[end] = pairs[pair]
                p[end &+ 1] = pairs[pair &+ 1]
            }
            if v >= 10 {
                let pair = Int(truncatingIfNeeded: v) &* 2
                p[0] = pairs[pair]
                p[1] = pairs[pair &+ 1]
            } else {
                p[0] = UInt8(truncatingIfNeeded: 48 &+ v)
            }
        }
        return count
    }

    /// The decimal digits of `value`, with `-` when negative.
    @inlinable @inline(__always)
    static func writeDecimal(_ value: Int64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        if value < 0 {
            p.pointee = UInt8(ascii: "-")
            return 1 &+ writeDecimal(value.magnitude, to: p + 1)
        }
        return writeDecimal(UInt64(value), to: p)
    }

    /// "00" "01" … "ff": the two hex digits of a byte per table lookup.
    @inlinable static var hexPairs: StaticString {
        """
        000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
        404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
        808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
        c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
        """
    }

    /// 16 lowercase hex digits, a byte (two digits) per table lookup.
    @inlinable @inline(__always)
    static func writeHex(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let pairs = UnsafeRawPointer(hexPairs.utf8Start)
        let out = UnsafeMutableRawPointer(p)
        var v = value
        var offset = 14
        while offset >= 0 {
            out.storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: v & 0xFF) &* 2, as: UInt16.self),
                           toByteOffset: offset, as: UInt16.self)
            v >>= 8
            offset &-= 2
        }
        return 16
    }

    /// Exactly the text of `value.description` (shortest round-trip digits; `1.0`, `0.25`,
    /// `1e-05`, `1.5e+20`, `inf`, `nan`), without creating a String.
    ///
    /// Fast path: a value in [1e-4, 1e12) that is exactly the double nearest to a decimal with
    /// at most 9 fractional digits and 15 significant digits (durations made from integer
    /// nanoseconds, milliseconds with three decimals, most bucket bounds). Such a decimal is
    /// the shortest representation: no two decimals of ≤ 15 significant digits round to the
    /// same double (DBL_DIG), so the standard library would print the same digits. Everything
    /// else goes through the standard library's own formatter.
    @inlinable static func writeDouble(_ value: Double, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let magnitude = value.magnitude
        if magnitude >= 1e-4 && magnitude < 1e12 {
            // Below 1e6, nine fractional digits keep the decimal under 15 significant digits;
            // up to 1e12, three do.
            let (scale, fractionDigits) = magnitude < 1e6 ? (1e9, 9) : (1e3, 3)
            // Round to an integer by adding and subtracting 2^52 (exact below 2^52; any
            // candidate is checked below, so the tie rule does not matter). `rounded()` would
            // be a libm call without SSE4.1.
            let scaled = (magnitude * scale + 0x1p52) - 0x1p52
            if scaled / scale == magnitude {
                let sign = value < 0 ? 1 : 0
                if sign == 1 { p.pointee = UInt8(ascii: "-") }
                return sign &+ writeScaled(UInt64(scaled), fractionDigits: fractionDigits, to: p + sign)
            }
        } else if value == 0 {
            return value.sign == .minus ? copy("-0.0", to: p) : copy("0.0", to: p)
        } else if value.isNaN {
            return copy("nan", to: p)  // `write(to:)` would add the payload: `nan(0x1)`
        }
        var sink = PointerSink(start: p)
        value.write(to: &sink)
        return sink.count
    }

    /// `scaled / 10^fractionDigits` as `int.frac`, trailing fractional zeros dropped but at
    /// least one fractional digit kept (`1.0`, `0.25`). `scaled` has at most 15 digits.
    @inlinable @inline(__always)
    static func writeScaled(_ scaled: UInt64, fractionDigits: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let divisor: UInt64 = fractionDigits == 9 ? 1_000_000_000 : 1000
        var n = writeDecimal(scaled / divisor, to: p)
        p[n] = UInt8(ascii: ".")
        n &+= 1
        let fraction = scaled % divisor
        if fraction == 0 {
            p[n] = UInt8(ascii: "0")
            return n &+ 1
        }
        // Exactly `fractionDigits` digits (leading zeros kept), then the trailing zeros dropped.
        let pairs = digitPairs.utf8Start
        var v = fraction
        var end = n &+ fractionDigits
        while end &- n >= 2 {
            let pair = Int(truncatingIfNeeded: v % 100) &* 2
            v /= 100
            end &-= 2
            p[end] = pairs[pair]
            p[end &+ 1] = pairs[pair &+ 1]
        }
        if end > n { p[n] = UInt8(truncatingIfNeeded: 48 &+ v) }
        end = n &+ fractionDigits
        while p[end &- 1] == UInt8(ascii: "0") { end &-= 1 }
        return end
    }

    @inlinable @inline(__always)
    static func copy(_ text: StaticString, to p: UnsafeMutablePointer<UInt8>) -> Int {
        p.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    /// Receives the standard library's float formatting as ASCII bytes (`Double.write(to:)`
    /// calls `_writeASCII`, so no String is created).
    @usableFromInline struct PointerSink: TextOutputStream {
        @usableFromInline let start: UnsafeMutablePointer<UInt8>
        @usableFromInline var count = 0

        @inlinable init(start: UnsafeMutablePointer<UInt8>) { self.start = start }

        @inlinable mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
            let n = min(buffer.count, ByteFormat.maxDoubleLength &- count)
            (start + count).update(from: buffer.baseAddress!, count: n)
            count &+= n
        }

        @inlinable mutating func write(_ string: String) {
            var string = string
            string.withUTF8 { _writeASCII($0) }
        }
    }
}
