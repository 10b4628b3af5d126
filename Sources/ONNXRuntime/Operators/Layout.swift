/// Ops that move elements to new positions: Transpose, Concat and Expand.
enum LayoutOps {
    static let kernels: [String: KernelFactory] = [
        "Transpose": { ctx in TransposeKernel(perm: try ctx.attributes.ints("perm")) },
        "Concat": { ctx in
            guard let axis = try ctx.attributes.int("axis") else { throw ONNXError(.invalidGraph, "Concat needs an axis attribute") }
            return ConcatKernel(axis: axis)
        },
        "Expand": { _ in ExpandKernel() },
    ]
}

struct TransposeKernel: Kernel {
    let perm: [Int]?

    func permutation(rank: Int) throws -> [Int] {
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, Set(p) == Set(0..<rank) else { throw ONNXError(.invalidInput, "perm \(p) is not a permutation of 0..<\(rank)") }
        return p
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard let t = inputs.first, let s = t.shape else { return [ValueType(dataType: inputs.first?.dataType)] }
        return [ValueType(dataType: t.dataType, shape: try permutation(rank: s.count).map { s[$0] })]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let p = try permutation(rank: x.rank)
        if p == Array(0..<x.rank) { return [x] }
        let out = try context.allocate(x.dataType, p.map { x.shape[$0] })
        try Visitor(x: x, out: out, perm: p).dispatch(x.dataType)
        return [out]
    }

    private struct Visitor: CarrierVisitor {
        let x: Tensor, out: Tensor, perm: [Int]
        func visit<T: FixedWidthInteger>(_ type: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(T.self)
            var inStrides = [Int](repeating: 1, count: x.rank)
            for i in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
            // Output axis i walks input axis perm[i].
            let strides = perm.map { inStrides[$0] }
            let plan = LoopPlan(shape: out.shape, strides: strides)
            plan.forEachRow { offset, o, n, step in
                let s = src + offset, d = dst + o
                for i in 0..<n { d[i] = s[i * step] }
            }
        }
    }
}

struct ConcatKernel: Kernel {
    let axis: Int

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let type = try commonType(inputs, "Concat")
        var out = ValueType(dataType: type)
        if inputs.allSatisfy({ $0.elements != nil && $0.rank == 1 }) {
            out.elements = inputs.flatMap { $0.elements! }
        }
        if let shapes = Optional(inputs.compactMap(\.shape)), shapes.count == inputs.count, let first = shapes.first {
            let a = try normalizeAxis(axis, rank: first.count)
            var s = first
            s[a] = shapes.allSatisfy { $0.count == first.count && $0[a] != nil } ? shapes.reduce(0) { $0 + $1[a]! } : nil
            out.shape = s
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let parts = try inputs.indices.map { try required(inputs, $0) }
        guard let first = parts.first else { throw ONNXError(.invalidInput, "Concat needs at least one input") }
        let a = try normalizeAxis(axis, rank: first.rank)
        var shape = first.shape
        shape[a] = 0
        for p in parts {
            guard p.dataType == first.dataType, p.rank == first.rank,
                  p.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == first.shape[$0.offset] }) else {
                throw ONNXError(.invalidInput, "cannot concatenate \(first.dataType)\(first.shape) and \(p.dataType)\(p.shape) on axis \(a)")
            }
            shape[a] += p.shape[a]
        }
        let out = try context.allocate(first.dataType, shape)
        let width = first.dataType.byteWidth
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *) * width
        let rowBytes = shape[a] * inner
        var column = 0
        for p in parts {
            let chunk = p.shape[a] * inner
            if chunk > 0 {
                for o in 0..<outer {
                    (out.storage.pointer + o * rowBytes + column).copyMemory(from: p.storage.pointer + o * chunk, byteCount: chunk)
                }
            }
            column += chunk
        }
        return [out]
    }
}

struct ExpandKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: inputs.first?.dataType)
        if let target = inputs[safe: 1]?.elements, let s = inputs.first?.shape {
            out.shape = inferBroadcastShape([s, target])
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0), s = try intValues(try required(inputs, 1, "shape"), "shape")
        let shape = try Broadcast.outputShape([x.shape, s])
        let plan = try Broadcast([x.shape], to: shape)
        let out = try context.allocate(x.dataType, shape)
        try Copy(x: x, out: out, plan: plan).dispatch(x.dataType)
        return [out]
    }

    struct Copy: CarrierVisitor {
        let x: Tensor, out: Tensor, plan: Broadcast
        func visit<T: FixedWidthInteger>(_ type: T.Type) { broadcastCopy(x.pointer(T.self), out.pointer(T.self), plan) }
    }
}
