import Telemetry

/// A growable byte buffer written through a raw pointer: an append is a capacity check and a copy,
/// with no uniqueness check or reference counting. Each event loop owns one for building responses.
struct ByteBuffer: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// The bytes written so far.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A copy of the bytes from `offset` on.
    func array(from offset: Int = 0) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: base + offset, count: count - offset))
    }

    /// Forgets the contents; memory beyond `keeping` bytes is released.
    mutating func removeAll(keeping limit: Int = 256 * 1024) {
        count = 0
        if capacity > limit {
            base.deallocate()
            capacity = limit
            base = .allocate(byteCount: limit, alignment: 16)
        }
    }

    @inline(__always) mutating func reserve(_ extra: Int) {
        if extra > capacity - count { grow(to: count + extra) }
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always) mutating func append(_ pointer: UnsafeRawPointer, count n: Int) {
        guard n > 0 else { return }
        reserve(n)
        (base + count).copyMemory(from: pointer, byteCount: n)
        count += n
    }

    @inline(__always) mutating func append(_ text: StaticString) {
        append(UnsafeRawPointer(text.utf8Start), count: text.utf8CodeUnitCount)
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            if let start = raw.baseAddress { append(start, count: raw.count) }
        }
    }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        if let start = raw.baseAddress { append(start, count: raw.count) }
    }

    /// Appends what `body` writes through a cursor, at most `maxCount` bytes.
    @inline(__always) mutating func appendRaw(maxCount: Int, _ body: (inout ByteCursor) -> Void) {
        reserve(maxCount)
        let start = (base + count).assumingMemoryBound(to: UInt8.self)
        var cursor = ByteCursor(start)
        body(&cursor)
        let written = cursor.position - start
        precondition(written <= maxCount, "appendRaw wrote \(written) bytes into room for \(maxCount)")
        count += written
    }

    /// Appends UTF-8 text with control characters (CR and LF above all) replaced by spaces, so a
    /// header value can never start a new line.
    mutating func appendSanitised(_ text: String) {
        let start = count
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
        // Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7F (the usual
        // case) needs no byte-wise look.
        let written = (base + start).assumingMemoryBound(to: UInt8.self)
        let n = count - start
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

    /// Control characters other than HTAB become spaces.
    private static func sanitise(_ p: UnsafeMutablePointer<UInt8>, _ n: Int) {
        for i in 0..<n where p[i] < 0x20 || p[i] == 0x7F {
            if p[i] != 0x09 { p[i] = 0x20 }
        }
    }

    mutating func appendDecimal(_ value: Int) {
        var v = max(value, 0)
        var divisor = 1
        while divisor <= v / 10 { divisor *= 10 }
        reserve(20)
        repeat {
            base.storeBytes(of: UInt8(truncatingIfNeeded: 0x30 + v / divisor), toByteOffset: count, as: UInt8.self)
            count += 1
            v %= divisor
            divisor /= 10
        } while divisor > 0
    }
}
