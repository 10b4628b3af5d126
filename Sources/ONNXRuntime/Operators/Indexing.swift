/// Gather, GatherND, Slice, Split and Tile: element selection by index.
enum IndexingOps {
    static let kernels: [String: KernelFactory] = [
        "Gather": { ctx in GatherKernel(axis: try ctx.attributes.int("axis", default: 0), constantIndices: ctx.constant(1)) },
        "GatherND": { ctx in GatherNDKernel(batchDims: try ctx.attributes.int("batch_dims", default: 0)) },
        "Slice": { _ in SliceKernel() },
        "Split": { ctx in
            SplitKernel(axis: try ctx.attributes.int("axis", default: 0), attributeSplit: try ctx.attributes.ints("split"),
                        numOutputs: try ctx.attributes.int("num_outputs"), outputCount: ctx.outputCount)
        },
        "Tile": { _ in TileKernel() },
    ]
}

/// Reads indices (int32/int64), wrapping negatives and rejecting out-of-range values.
func indexValues(_ t: Tensor, limit: Int, _ what: String) throws -> [Int] {
    try intValues(t, what).map { i in
        let j = i < 0 ? i + limit : i
        guard j >= 0 && j < limit else { throw ONNXError(.invalidInput, "\(what) value \(i) is out of range for a dimension of \(limit)") }
        return j
    }
}

struct GatherKernel: Kernel {
    let axis: Int
    let constantIndices: Tensor?

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard inputs.count == 2 else { throw ONNXError(.invalidGraph, "Gather needs data and indices") }
        var out = ValueType(dataType: inputs[0].dataType)
        if let d = inputs[0].shape, let q = inputs[1].shape {
            let a = try normalizeAxis(axis, rank: d.count)
            out.shape = Array(d[..<a]) + q + Array(d[(a + 1)...])
        }
        // Picking entries of a partly known shape vector.
        if let elements = inputs[0].elements, inputs[0].rank == 1, let idx = constantIndices, idx.rank <= 1 {
            out.elements = try indexValues(idx, limit: elements.count, "indices").map { elements[$0] }
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let data = try required(inputs, 0, "data"), indices = try required(inputs, 1, "indices")
        guard data.rank > 0 else { throw ONNXError(.invalidInput, "data must not be a scalar") }
        let a = try normalizeAxis(axis, rank: data.rank)
        let idx = try indexValues(indices, limit: data.shape[a], "indices")
        let shape = Array(data.shape[..<a]) + indices.shape + Array(data.shape[(a + 1)...])
        let out = try context.allocate(data.dataType, shape)
        let width = data.dataType.byteWidth
        let outer = data.shape[..<a].reduce(1, *), inner = data.shape[(a + 1)...].reduce(1, *) * width
        let src = data.storage.pointer, dst = out.storage.pointer
        var o = 0
        for b in 0..<outer {
            let base = src + b * data.shape[a] * inner
            for i in idx {
                (dst + o).copyMemory(from: base + i * inner, byteCount: inner)
                o += inner
            }
        }
        return [out]
    }
}

struct GatherNDKernel: Kernel {
    let batchDims: Int

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let data = try required(inputs, 0, "data"), indices = try required(inputs, 1, "indices")
        let b = batchDims
        guard indices.rank >= 1, b >= 0, b < min(data.rank, indices.rank), Array(data.shape[..<b]) == Array(indices.shape[..<b]) else {
            throw ONNXError(.invalidInput, "data \(data.shape) and indices \(indices.shape) do not fit batch_dims \(b)")
        }
        let k = indices.shape.last!
        guard k >= 1, b + k <= data.rank else { throw ONNXError(.invalidInput, "indices of depth \(k) exceed data rank \(data.rank)") }
        let raw = try intValues(indices, "indices")
        let shape = Array(indices.shape.dropLast()) + Array(data.shape[(b + k)...])
        let out = try context.allocate(data.dataType, shape)
        let width = data.dataType.byteWidth
        let slice = data.shape[(b + k)...].reduce(1, *) * width
        let batches = data.shape[..<b].reduce(1, *)
        let perBatch = indices.shape[b..<(indices.rank - 1)].reduce(1, *)
        let batchStride = data.shape[b...].reduce(1, *) * width
        var strides = [Int](repeating: slice, count: k)
        for i in stride(from: k - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * data.shape[b + i + 1] }
        var o = 0
        for batch in 0..<batches {
            for j in 0..<perBatch {
                var offset = batch * batchStride
                for d in 0..<k {
                    let v = raw[(batch * perBatch + j) * k + d], dim = data.shape[b + d]
                    let idx = v < 0 ? v + dim : v
                    guard idx >= 0 && idx < dim else { throw ONNXError(.invalidInput, "index \(v) is out of range for dimension \(dim)") }
                    offset += idx * strides[d]
                }
                (out.storage.pointer + o).copyMemory(from: data.storage.pointer + offset, byteCount: slice)
                o += slice
            }
        }
        return [out]
    }
}

struct SliceKernel: Kernel {
    /// Per-axis start, step and count after ONNX clamping rules.
    static func plan(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> (start: [Int], step: [Int], count: [Int]) {
        let r = shape.count
        let axes = try (axes ?? Array(0..<starts.count)).map { try normalizeAxis($0, rank: r) }
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count, Set(axes).count == axes.count else {
            throw ONNXError(.invalidInput, "starts, ends, axes and steps must have matching lengths and distinct axes")
        }
        var start = [Int](repeating: 0, count: r), step = [Int](repeating: 1, count: r), count = shape
        for (i, axis) in axes.enumerated() {
            let dim = shape[axis]
            guard steps[i] != 0 else { throw ONNXError(.invalidInput, "slice step must not be 0") }
            // A step longer than the axis picks at most one element; clamping keeps the arithmetic small.
            let st = steps[i] > 0 ? min(steps[i], dim + 1) : max(steps[i], -(dim + 1))
            var s = starts[i] < 0 ? starts[i] &+ dim : starts[i]
            var e = ends[i] < 0 ? ends[i] &+ dim : ends[i]
            if st > 0 {
                s = min(max(s, 0), dim); e = min(max(e, 0), dim)
                count[axis] = e > s ? (e - s + st - 1) / st : 0
            } else {
                s = min(max(s, 0), dim - 1); e = min(max(e, -1), dim - 1)
                count[axis] = s > e ? (s - e + (-st) - 1) / (-st) : 0
            }
            start[axis] = s
            step[axis] = st
        }
        return (start, step, count)
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: inputs.first?.dataType)
        func known(_ i: Int) -> [Int]? {
            guard let e = inputs[safe: i]?.elements, e.allSatisfy({ $0 != nil }) else { return nil }
            return e.map { $0! }
        }
        if let s = inputs.first?.staticShape, let starts = known(1), let ends = known(2),
           inputs.count <= 3 || known(3) != nil, inputs.count <= 4 || known(4) != nil {
            let p = try Self.plan(shape: s, starts: starts, ends: ends, axes: inputs.count > 3 ? known(3) : nil, steps: inputs.count > 4 ? known(4) : nil)
            out.shape = p.count
            if let e = inputs.first?.elements, s.count == 1 {
                out.elements = (0..<p.count[0]).map { e[p.start[0] + $0 * p.step[0]] }
            }
        } else if let r = inputs.first?.rank {
            out.shape = Array(repeating: nil, count: r)
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "data")
        let starts = try intValues(required(inputs, 1, "starts"), "starts"), ends = try intValues(required(inputs, 2, "ends"), "ends")
        let axes = try inputs[safe: 3].flatMap { $0 }.map { try intValues($0, "axes") }
        let steps = try inputs[safe: 4].flatMap { $0 }.map { try intValues($0, "steps") }
        let p = try Self.plan(shape: x.shape, starts: starts, ends: ends, axes: axes, steps: steps)
        let out = try context.allocate(x.dataType, p.count)
        var strides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * x.shape[i + 1] }
        let base = zip(p.start, strides).reduce(0) { $0 + $1.0 * $1.1 }
        let plan = LoopPlan(shape: p.count, strides: zip(strides, p.step).map { $0 * $1 }, base: base)
        try StridedCopy(x: x, out: out, plan: plan).dispatch(x.dataType)
        return [out]
    }
}

struct SplitKernel: Kernel {
    let axis: Int
    let attributeSplit: [Int]?
    let numOutputs: Int?
    let outputCount: Int

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let a = try normalizeAxis(axis, rank: x.rank)
        let dim = x.shape[a]
        var sizes: [Int]
        if let given = try attributeSplit ?? inputs[safe: 1].flatMap({ $0 }).map({ try intValues($0, "split") }) {
            sizes = given
        } else {
            let n = numOutputs ?? outputCount
            guard n > 0, n == outputCount else { throw ONNXError(.invalidInput, "num_outputs \(n) does not match the node's \(outputCount) outputs") }
            let chunk = (dim + n - 1) / n
            sizes = (0..<n).map { min(chunk, max(0, dim - $0 * chunk)) }
        }
        guard sizes.count == outputCount, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
            throw ONNXError(.invalidInput, "split sizes \(sizes) do not add up to dimension \(dim) for \(outputCount) outputs")
        }
        var strides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * x.shape[i + 1] }
        var outputs: [Tensor] = []
        var offset = 0
        for size in sizes {
            var shape = x.shape
            shape[a] = size
            let out = try context.allocate(x.dataType, shape)
            try StridedCopy(x: x, out: out, plan: LoopPlan(shape: shape, strides: strides, base: offset * strides[a])).dispatch(x.dataType)
            outputs.append(out)
            offset += size
        }
        return outputs
    }
}

struct TileKernel: Kernel {
    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0), repeats = try intValues(required(inputs, 1, "repeats"), "repeats")
        guard repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
            throw ONNXError(.invalidInput, "repeats \(repeats) must have \(x.rank) non-negative values")
        }
        // View the output as [r0, d0, r1, d1, ...] reading the input with stride 0 on the repeat axes.
        var strides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * x.shape[i + 1] }
        let shape = zip(x.shape, repeats).map { $0.multipliedReportingOverflow(by: $1) }
        guard shape.allSatisfy({ !$0.overflow }) else { throw ONNXError(.invalidInput, "repeats \(repeats) are too large") }
        let out = try context.allocate(x.dataType, shape.map(\.partialValue))
        let loopShape = zip(repeats, x.shape).flatMap { [$0, $1] }
        let loopStrides = strides.flatMap { [0, $0] }
        try StridedCopy(x: x, out: out, plan: LoopPlan(shape: loopShape, strides: loopStrides)).dispatch(x.dataType)
        return [out]
    }
}
