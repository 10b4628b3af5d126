/// Per-run state: a free list of buffers for reuse once their values are dead, and the thread pool.
final class RunContext {
    let threads: ThreadPool?
    private(set) var free: [TensorStorage]
    /// Bytes of buffers newly allocated during this run (not reused).
    private(set) var freshBytes = 0

    init(threads: ThreadPool?, free: [TensorStorage] = []) {
        self.threads = threads
        self.free = free
    }

    /// An uninitialised tensor (contents are whatever the reused buffer held).
    func allocate(_ type: DataType, _ shape: [Int]) throws -> Tensor {
        let bytes = try elementCount(shape) * type.byteWidth
        guard bytes <= Self.maxTensorBytes else {
            throw ONNXError(.runtime, "a \(type) tensor of shape \(shape) needs \(bytes) bytes, over the \(Self.maxTensorBytes)-byte limit")
        }
        return Tensor(dataType: type, shape: shape, storage: take(bytes: bytes))
    }

    /// Refuse single tensors past 8 GiB with an error instead of failing the allocation.
    static let maxTensorBytes = 1 << 33

    func allocateZeroed(_ type: DataType, _ shape: [Int]) throws -> Tensor {
        let t = try allocate(type, shape)
        t.withUnsafeMutableBytes { if $0.count > 0 { $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        return t
    }

    /// A buffer of at least `bytes`, best fit from the free list.
    func take(bytes: Int) -> TensorStorage {
        var best = -1
        for (i, s) in free.enumerated() where s.byteCount >= bytes && s.byteCount <= max(bytes * 2, 4096) {
            if best < 0 || s.byteCount < free[best].byteCount { best = i }
        }
        if best >= 0 { return free.swapRemoveAt(best) }
        freshBytes += bytes
        return TensorStorage(byteCount: bytes)
    }

    /// Returns a buffer nothing else references.
    func recycle(_ storage: TensorStorage) {
        free.append(storage)
    }

    /// Temporary float scratch space for the duration of `body`.
    func withScratch<R>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let s = take(bytes: count * 4)
        defer { recycle(s) }
        return try body(s.pointer.assumingMemoryBound(to: Float.self))
    }

    func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if let threads { threads.parallelFor(count, body) } else { for i in 0..<count { body(i) } }
    }

    var threadCount: Int { threads?.threadCount ?? 1 }
}

extension Array {
    mutating func swapRemoveAt(_ i: Int) -> Element {
        swapAt(i, count - 1)
        return removeLast()
    }
}
