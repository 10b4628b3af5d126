import InferenceCore

/// A scanned JSON number: `±mantissa × 10^exponent`, with the first 19 significant digits in `mantissa`.
struct JSONNumber {
    var negative = false
    var mantissa: UInt64 = 0
    var exponent = 0
    /// Non-zero significant digits beyond the 19th were dropped (the value is not exactly `mantissa × 10^exponent`).
    var truncated = false
    /// The literal has no fraction or exponent part.
    var isIntegerLiteral = true
    /// Byte range of the literal in the scanned buffer.
    var start = 0
    var end = 0

    enum IntegerResult: Equatable {
        case value(Int64)
        case notIntegral
        case outOfRange
    }

    /// The exact integer value, if the number is integral (`2`, `2.0`, `2e3`) and fits in `Int64`.
    func integerValue() -> IntegerResult {
        if mantissa == 0 { return truncated ? .notIntegral : .value(0) }
        var m = mantissa, e = exponent
        if truncated {
            // More than 19 significant digits. A positive exponent means integer digits were dropped (so the
            // magnitude is at least 10^19); otherwise the dropped non-zero digits are in the fraction.
            return e > 0 ? .outOfRange : .notIntegral
        }
        while e < 0, m % 10 == 0 { m /= 10; e += 1 }
        if e < 0 { return .notIntegral }
        while e > 0 {
            let (product, overflow) = m.multipliedReportingOverflow(by: 10)
            if overflow { return .outOfRange }
            m = product; e -= 1
        }
        if negative {
            if m <= UInt64(Int64.max) { return .value(-Int64(m)) }
            return m == UInt64(Int64.max) + 1 ? .value(Int64.min) : .outOfRange
        }
        return m <= UInt64(Int64.max) ? .value(Int64(m)) : .outOfRange
    }

    /// The nearest `Double` (correctly rounded). Infinite when the literal is beyond `Double`'s range.
    func doubleValue(in buffer: UnsafeBufferPointer<UInt8>) -> Double? {
        if mantissa == 0 && !truncated { return negative ? -0.0 : 0.0 }
        // Exact operands give a correctly rounded result (Clinger's fast path).
        if !truncated && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            let m = Double(mantissa)
            let d = exponent >= 0 ? m * exactPowerOfTen(exponent) : m / exactPowerOfTen(-exponent)
            return negative ? -d : d
        }
        return Double(literal(in: buffer))
    }

    /// The nearest `Float` (correctly rounded). Infinite when the literal is beyond `Float`'s range.
    @inline(__always) func floatValue(in buffer: UnsafeBufferPointer<UInt8>) -> Float? {
        if mantissa == 0 && !truncated { return negative ? -0.0 : 0.0 }
        if exponent >= -22 && exponent <= 22 {
            if !truncated && mantissa <= 1 << 24 && exponent >= -10 && exponent <= 10 {
                let m = Float(mantissa)
                let f = exponent >= 0 ? m * exactFloatPowerOfTen(exponent) : m / exactFloatPowerOfTen(-exponent)
                return negative ? -f : f
            }
            // Within about two units in the last place of the exact value (one rounding of the mantissa, one of
            // the product, and < 1e-18 relative from dropped digits). Rounding that double to Float is correct unless
            // it lies near a point halfway between two floats; those rare cases take the slow path.
            let m = Double(mantissa)
            let d = exponent >= 0 ? m * exactPowerOfTen(exponent) : m / exactPowerOfTen(-exponent)
            let f = Float(d)
            if f.isFinite && f.nextUp.isFinite {
                let fd = Double(f)
                let below = (fd + Double(f.nextDown)) / 2
                let above = (fd + Double(f.nextUp)) / 2
                let margin = 4 * d.ulp
                if abs(d - below) > margin && abs(above - d) > margin {
                    return negative ? -f : f
                }
            }
        }
        return Float(literal(in: buffer))
    }

    private func literal(in buffer: UnsafeBufferPointer<UInt8>) -> String {
        let range = max(0, min(start, buffer.count))..<max(0, min(end, buffer.count))
        return String(decoding: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }
}

// Powers of ten as switches over literals: a lookup table in read-only data, with no lazily
// initialised global (whose check costs a call per number) and no array bounds check.

/// 10^e for 0 ≤ e ≤ 22, all exact in a Double.
@inline(__always) func exactPowerOfTen(_ e: Int) -> Double {
    switch e {
    case 0: 1e0; case 1: 1e1; case 2: 1e2; case 3: 1e3; case 4: 1e4; case 5: 1e5; case 6: 1e6; case 7: 1e7
    case 8: 1e8; case 9: 1e9; case 10: 1e10; case 11: 1e11; case 12: 1e12; case 13: 1e13; case 14: 1e14
    case 15: 1e15; case 16: 1e16; case 17: 1e17; case 18: 1e18; case 19: 1e19; case 20: 1e20; case 21: 1e21
    default: 1e22
    }
}

/// 10^e for 0 ≤ e ≤ 10, all exact in a Float.
@inline(__always) func exactFloatPowerOfTen(_ e: Int) -> Float {
    switch e {
    case 0: 1e0; case 1: 1e1; case 2: 1e2; case 3: 1e3; case 4: 1e4; case 5: 1e5; case 6: 1e6; case 7: 1e7
    case 8: 1e8; case 9: 1e9; default: 1e10
    }
}

/// 10^e for 0 ≤ e ≤ 8.
@inline(__always) func integerPowerOfTen(_ e: Int) -> UInt64 {
    switch e {
    case 0: 1; case 1: 10; case 2: 100; case 3: 1_000; case 4: 10_000; case 5: 100_000; case 6: 1_000_000
    case 7: 10_000_000; default: 100_000_000
    }
}

extension JSONScanner {
    /// The value and count of the decimal digits (0 to 8) starting at the cursor, read eight bytes at
    /// once (SWAR); nil when fewer than eight bytes of the text remain or no digit starts there.
    @inline(__always) func eightDigitChunk() -> (value: UInt64, count: Int)? {
        guard end - position >= 8, let base = buffer.baseAddress else { return nil }
        let run = Self.digitRun(base + position)
        return run.count == 0 ? nil : run
    }

    /// The value and count of the decimal digits (0 to 8) among the eight bytes at `p`.
    @inline(__always) static func digitRun(_ p: UnsafePointer<UInt8>) -> (value: UInt64, count: Int) {
        let word = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
        // A byte is a digit when it is 0x3_ and adding 6 keeps it 0x3_. The addition can carry only out of
        // a byte ≥ 0xFA, which is not a digit, so it cannot disturb the digits before the first non-digit.
        let high = word & 0xF0F0_F0F0_F0F0_F0F0
        let highPlus6 = (word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0
        let notDigit = (high ^ 0x3030_3030_3030_3030) | (highPlus6 ^ 0x3030_3030_3030_3030)
        let count = notDigit == 0 ? 8 : notDigit.trailingZeroBitCount / 8
        if count == 0 { return (0, 0) }
        // The digits as byte values, shifted up so that missing leading digits read as zeros.
        let keep: UInt64 = count == 8 ? .max : (1 << UInt64(count * 8)) &- 1
        var digits = ((word & keep) &- (0x3030_3030_3030_3030 & keep)) << UInt64((8 - count) * 8)
        // Combine neighbours: pairs (×10), then quads (×100), then the two halves (×10⁴).
        digits = (digits &* 10) &+ (digits >> 8)
        digits = (((digits & 0x0000_00FF_0000_00FF) &* (100 &+ (1_000_000 << 32)))
                  &+ (((digits >> 16) & 0x0000_00FF_0000_00FF) &* (1 &+ (10_000 << 32)))) >> 32
        return (digits, count)
    }

    /// Bytes a short number may span, with the eight-byte reads past its digits: the caller makes
    /// sure this many remain before calling `shortFloat32(at:)`.
    static let shortNumberRoom = 24

    /// The number at `p` if it has the short form most tensor data takes,
    /// `-?(0|[1-9][0-9]{0,6})(\.[0-9]{1,7})?` with its digits together at most 2^24, as the nearest
    /// `Float` and where it ends; nil for any other number (or none), which `scanNumber` and
    /// `floatValue` then take, errors included. The result is theirs exactly: the digits form an
    /// integer m ≤ 2^24 and the value is m / 10^k with k ≤ 7, both exact in a Float, so the one
    /// division rounds correctly.
    @inline(__always)
    static func shortFloat32(at start: UnsafePointer<UInt8>) -> (value: Float, end: UnsafePointer<UInt8>)? {
        var p = start
        let negative = p.pointee == UInt8(ascii: "-")
        if negative { p += 1 }
        var mantissa: UInt64
        if p.pointee == UInt8(ascii: "0") {
            // A leading zero stands alone ("01" is an error the general scanner reports).
            guard p[1] &- UInt8(ascii: "0") >= 10 else { return nil }
            mantissa = 0
            p += 1
        } else {
            let (integer, digits) = digitRun(p)
            guard digits != 0, digits < 8 else { return nil }
            mantissa = integer
            p += digits
        }
        var scale = 0
        if p.pointee == UInt8(ascii: ".") {
            let (fraction, digits) = digitRun(p + 1)
            guard digits != 0, digits < 8 else { return nil }
            mantissa = mantissa &* integerPowerOfTen(digits) &+ fraction
            scale = digits
            p += 1 + digits
        }
        guard mantissa <= 1 << 24, p.pointee | 0x20 != UInt8(ascii: "e") else { return nil }
        let f = Float(mantissa) / exactFloatPowerOfTen(scale)
        return (negative ? -f : f, p)
    }

    /// Scans a number (RFC 8259 §6: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`) at the cursor.
    @inline(__always) mutating func scanNumber() throws(InferenceError) -> JSONNumber {
        var n = JSONNumber()
        n.start = position
        if current == UInt8(ascii: "-") { n.negative = true; position += 1 }
        var significant = 0
        let first = current
        if first == UInt8(ascii: "0") {
            position += 1
            if current &- UInt8(ascii: "0") < 10 { throw syntaxError("leading zero in a number", at: n.start) }
        } else if first &- UInt8(ascii: "1") < 9 {
            while significant <= 11, let (value, count) = eightDigitChunk() {
                n.mantissa = n.mantissa &* integerPowerOfTen(count) &+ value
                significant += count
                position += count
                if count < 8 { break }
            }
            while position < end {
                let digit = buffer[position] &- UInt8(ascii: "0")
                if digit >= 10 { break }
                if significant < 19 {
                    n.mantissa = n.mantissa &* 10 &+ UInt64(digit)
                    significant += 1
                } else {
                    n.exponent += 1
                    if digit != 0 { n.truncated = true }
                }
                position += 1
            }
        } else {
            throw syntaxError(expected: "a digit in a number")
        }
        if current == UInt8(ascii: ".") {
            n.isIntegerLiteral = false
            position += 1
            guard current &- UInt8(ascii: "0") < 10 else { throw syntaxError(expected: "a digit after '.'") }
            if significant == 0 {
                // Zeros before the first significant digit only scale the value.
                while current == UInt8(ascii: "0") { n.exponent -= 1; position += 1 }
            }
            // Up to eight digits at a time while no digit can be dropped.
            while significant <= 11, let (value, count) = eightDigitChunk() {
                n.mantissa = n.mantissa &* integerPowerOfTen(count) &+ value
                significant += count
                n.exponent -= count
                position += count
                if count < 8 { break }
            }
            while position < end {
                let digit = buffer[position] &- UInt8(ascii: "0")
                if digit >= 10 { break }
                if significant == 0 && digit == 0 {
                    n.exponent -= 1
                } else if significant < 19 {
                    n.mantissa = n.mantissa &* 10 &+ UInt64(digit)
                    significant += 1
                    n.exponent -= 1
                } else if digit != 0 {
                    n.truncated = true
                }
                position += 1
            }
        }
        if current | 0x20 == UInt8(ascii: "e") {
            n.isIntegerLiteral = false
            position += 1
            var negativeExponent = false
            if current == UInt8(ascii: "+") { position += 1 } else if current == UInt8(ascii: "-") { negativeExponent = true; position += 1 }
            guard current &- UInt8(ascii: "0") < 10 else { throw syntaxError(expected: "a digit in an exponent") }
            var value = 0
            while position < end {
                let digit = buffer[position] &- UInt8(ascii: "0")
                if digit >= 10 { break }
                // Saturate: anything this large is out of every type's range, and the digit-driven part of
                // `exponent` is bounded by the body length, so the sum below cannot overflow.
                if value < 1_000_000_000 { value = value * 10 + Int(digit) }
                position += 1
            }
            n.exponent += negativeExponent ? -value : value
        }
        n.end = position
        return n
    }
}
