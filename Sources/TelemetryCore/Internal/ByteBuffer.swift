/// A growable byte buffer written through a raw pointer: an append is a capacity check and a copy,
/// with no uniqueness check or reference counting, and `appendRaw` formats straight into room it
/// reserves (nothing is zero-filled or trimmed). Not copyable: one owner holds its memory. The
/// event loops build responses in one each; the log writer gathers lines in two.
///
/// Its methods are `@inlinable` so that appends inline into the HTTP server's encoder as they
/// did when the type lived there. `@unchecked Sendable`: it is not copyable, so exactly one owner
/// (a lock's value, or the thread it was moved to) holds its memory at a time.
@usableFromInline package struct ByteBuffer: ~Copyable, @unchecked Sendable {
    @usableFromInline var _base: UnsafeMutableRawPointer
    @usableFromInline var _capacity: Int
    @usableFromInline var _count = 0

    @inlinable package init(capacity: Int = 4096) {
        _capacity = max(capacity, 64)
        _base = .allocate(byteCount: _capacity, alignment: 16)
    }

    @inlinable deinit { _base.deallocate() }

    @inlinable package var count: Int { _count }
    @inlinable package var capacity: Int { _capacity }
    @inlinable package var isEmpty: Bool { _count == 0 }

    /// The bytes written so far.
    @inlinable package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: _base, count: _count) }

    /// The bytes from `offset` on, for changing in place.
    @inlinable package func mutableBytes(from offset: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: _base + offset, count: _count - offset)
    }

    /// A copy of the bytes from `offset` on.
    @inlinable package func array(from offset: Int = 0) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: _base + offset, count: _count - offset))
    }

    /// Forgets the contents; memory beyond `keeping` bytes is released.
    @inlinable package mutating func removeAll(keeping limit: Int = 256 * 1024) {
        _count = 0
        if _capacity > limit {
            _base.deallocate()
            _capacity = max(limit, 64)
            _base = .allocate(byteCount: _capacity, alignment: 16)
        }
    }

    @inlinable @inline(__always) package mutating func reserve(_ extra: Int) {
        if extra > _capacity - _count { grow(to: _count + extra) }
    }

    @usableFromInline mutating func grow(to needed: Int) {
        let newCapacity = max(needed, _capacity * 2)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: _base, byteCount: _count)
        _base.deallocate()
        _base = newBase
        _capacity = newCapacity
    }

    @inlinable @inline(__always) package mutating func append(_ pointer: UnsafeRawPointer, count n: Int) {
        guard n > 0 else { return }
        reserve(n)
        (_base + _count).copyMemory(from: pointer, byteCount: n)
        _count += n
    }

    @inlinable @inline(__always) package mutating func append(_ text: StaticString) {
        append(UnsafeRawPointer(text.utf8Start), count: text.utf8CodeUnitCount)
    }

    @inlinable @inline(__always) package mutating func append(_ byte: UInt8) {
        reserve(1)
        _base.storeBytes(of: byte, toByteOffset: _count, as: UInt8.self)
        _count += 1
    }

    @inlinable package mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            if let start = raw.baseAddress { append(start, count: raw.count) }
        }
    }

    /// Appends a copy of `count` bytes already in the buffer, from `offset`.
    @inlinable package mutating func appendCopy(from offset: Int, count n: Int) {
        precondition(offset >= 0 && n >= 0 && offset + n <= _count, "copy from outside the buffer")
        reserve(n)
        (_base + _count).copyMemory(from: _base + offset, byteCount: n)
        _count += n
    }

    @inlinable package mutating func append(_ raw: UnsafeRawBufferPointer) {
        if let start = raw.baseAddress { append(start, count: raw.count) }
    }

    /// Appends what `body` writes through a cursor, at most `maxCount` bytes: room for them is
    /// reserved, so a generous bound costs nothing.
    @inlinable @inline(__always) package mutating func appendRaw(maxCount: Int, _ body: (inout ByteCursor) -> Void) {
        let start = reserveTail(maxCount)
        var cursor = ByteCursor(start)
        body(&cursor)
        commitTail(cursor.position - start, room: maxCount)
    }

    /// Reserves `room` bytes and returns where they begin, for a writer that fills them and then
    /// appends what it wrote with `commitTail` (or drops it by not committing). For writers that
    /// cannot be a closure: one borrowing the value it writes from would copy it.
    @inlinable @inline(__always)
    package mutating func reserveTail(_ room: Int) -> UnsafeMutablePointer<UInt8> {
        reserve(room)
        return (_base + _count).assumingMemoryBound(to: UInt8.self)
    }

    /// Appends the `count` bytes written from `reserveTail(room)`'s pointer.
    @inlinable @inline(__always)
    package mutating func commitTail(_ count: Int, room: Int) {
        precondition(count <= room && count <= _capacity - _count, "wrote \(count) bytes into room for \(room)")
        _count += count
    }
}
