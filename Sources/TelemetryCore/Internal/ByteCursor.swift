/// A write position in memory the caller has made room in (see `Array.appendRaw`): every
/// write is a store and a pointer bump, with no capacity or uniqueness checks per call.
///
/// The telemetry targets all write through it, so its methods are `@inlinable`: they inline
/// into the writers in other modules as they did when telemetry was one module. (Members of a
/// `package` type inline across modules only when the type is `@usableFromInline` too; the
/// compiler does not say so.)
@usableFromInline package struct ByteCursor {
    @usableFromInline var _position: UnsafeMutablePointer<UInt8>

    /// Where the next byte goes.
    @inlinable package var position: UnsafeMutablePointer<UInt8> { _position }

    @inlinable package init(_ start: UnsafeMutablePointer<UInt8>) { _position = start }

    @inlinable @inline(__always)
    package mutating func write(_ byte: UInt8) {
        _position.pointee = byte
        _position += 1
    }

    @inlinable @inline(__always)
    package mutating func write(_ bytes: UnsafePointer<UInt8>, count: Int) {
        let source = UnsafeRawPointer(bytes)
        let destination = UnsafeMutableRawPointer(position)
        // Short copies (most fields and prefixes) inline, as a few word moves whose last one
        // may overlap the one before: a libc call costs more than the copy.
        if count >= 8 && count <= 32 {
            var offset = 0
            while offset &+ 8 < count {
                destination.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
                                       toByteOffset: offset, as: UInt64.self)
                offset &+= 8
            }
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self),
                                   toByteOffset: count &- 8, as: UInt64.self)
        } else if count >= 4 && count < 8 {
            destination.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self),
                                   toByteOffset: count &- 4, as: UInt32.self)
        } else if count < 4 {
            var offset = 0
            while offset < count {
                position[offset] = bytes[offset]
                offset &+= 1
            }
        } else {
            position.update(from: bytes, count: count)
        }
        _position += count
    }

    /// Copies `count` bytes 16 at a time, inline (a libc call costs more than the copy for
    /// prefixes of a few dozen bytes). Reads and writes up to 15 bytes past both ends: the
    /// source must be padded and the destination must have that much spare room.
    @inlinable @inline(__always)
    package mutating func writePadded(_ bytes: UnsafePointer<UInt8>, count: Int) {
        let source = UnsafeRawPointer(bytes)
        let destination = UnsafeMutableRawPointer(position)
        var offset = 0
        repeat {
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self),
                                   toByteOffset: offset, as: SIMD16<UInt8>.self)
            offset &+= 16
        } while offset < count
        _position += count
    }

    /// Moves past `count` bytes the caller has written (or will write) through `position`.
    @inlinable @inline(__always)
    package mutating func skip(_ count: Int) { _position += count }

    @inlinable @inline(__always)
    package mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        write(bytes.baseAddress!, count: bytes.count)
    }

    @inlinable @inline(__always)
    package mutating func write(_ text: StaticString) {
        write(text.utf8Start, count: text.utf8CodeUnitCount)
    }

    @inlinable @inline(__always)
    package mutating func writeDecimal(_ value: UInt64) { _position += ByteFormat.writeDecimal(value, to: position) }

    @inlinable @inline(__always)
    package mutating func writeDecimal(_ value: Int64) { _position += ByteFormat.writeDecimal(value, to: position) }

    /// `value` left-padded with zeros to `width` digits (all digits when it has more).
    @inlinable @inline(__always)
    package mutating func writeDigits(_ value: UInt64, width: Int) {
        var digits = ByteFormat.decimalDigitCount(value)
        while digits < width {
            write(UInt8(ascii: "0"))
            digits &+= 1
        }
        writeDecimal(value)
    }

    /// 16 lowercase hex digits.
    @inlinable @inline(__always)
    package mutating func writeHex(_ value: UInt64) { _position += ByteFormat.writeHex(value, to: position) }

    /// A trace id as its 32 lowercase hex digits.
    @inlinable package mutating func writeHex(_ id: TraceID) {
        writeHex(id.high)
        writeHex(id.low)
    }

    /// The same text as `value.description`.
    @inlinable @inline(__always)
    package mutating func writeDouble(_ value: Double) { _position += ByteFormat.writeDouble(value, to: position) }

    /// A sample value in the exposition formats: `NaN`, `+Inf`, `-Inf`; integral values below
    /// 1e15 as integers; others as `description` (shortest round-trip, which both formats'
    /// grammars accept: `0.25`, `1e-05`, `1.5e+20`).
    @inlinable @inline(__always)
    package mutating func writeSampleValue(_ value: Double) {
        if value.isNaN {
            write("NaN")
        } else if value.isInfinite {
            write(value > 0 ? "+Inf" : "-Inf")
        } else if value.magnitude < 1e15, Double(Int64(value)) == value {  // integral (no libm call)
            writeDecimal(Int64(value))
        } else {
            writeDouble(value)
        }
    }

    /// A Unix timestamp in seconds with millisecond precision (`1520879607.789`).
    @inlinable @inline(__always)
    package mutating func writeTimestampSeconds(unixNanoseconds: UInt64) {
        let millis = unixNanoseconds / 1_000_000
        writeDecimal(millis / 1000)
        write(UInt8(ascii: "."))
        writeDigits(millis % 1000, width: 3)
    }
}

@usableFromInline let zeroBytes = [UInt8](repeating: 0, count: 64 * 1024)

extension Array where Element == UInt8 {
    /// Appends what `body` writes through a cursor, at most `maxCount` bytes: the array grows
    /// by `maxCount` zero bytes first (one bulk copy instead of a capacity check per append)
    /// and is trimmed to what was written.
    @inlinable @inline(__always)
    package mutating func appendRaw(maxCount: Int, _ body: (inout ByteCursor) -> Void) {
        let start = count
        zeroBytes.withUnsafeBufferPointer { zeros in
            var remaining = maxCount
            while remaining > 0 {
                let n = Swift.min(remaining, zeros.count)
                append(contentsOf: UnsafeBufferPointer(rebasing: zeros[..<n]))
                remaining -= n
            }
        }
        let written = withUnsafeMutableBufferPointer { buffer -> Int in
            let base = buffer.baseAddress! + start
            var cursor = ByteCursor(base)
            body(&cursor)
            return cursor.position - base
        }
        precondition(written <= maxCount, "appendRaw wrote \(written) bytes into room for \(maxCount)")
        removeLast(maxCount - written)
    }
}
