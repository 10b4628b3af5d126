/// Gemm and MatMul on the packed SIMD GEMM; weights known at load are packed once.
enum MatMulOps {
    static let kernels: [String: KernelFactory] = [
        "Gemm": { ctx in try GemmKernel(ctx) },
        "MatMul": { ctx in try MatMulKernel(ctx) },
    ]
}

struct GemmKernel: Kernel {
    let alpha: Float
    let beta: Float
    let transA: Bool
    let transB: Bool
    let packedB: PackedB?

    init(_ ctx: KernelBuildContext) throws {
        alpha = try ctx.attributes.float("alpha", default: 1)
        beta = try ctx.attributes.float("beta", default: 1)
        transA = try ctx.attributes.int("transA", default: 0) != 0
        transB = try ctx.attributes.int("transB", default: 0) != 0
        if let b = ctx.constant(1), b.dataType == .float32, b.rank == 2 {
            let (k, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
            packedB = PackedB(MatrixView.rowMajor(b.floats, cols: b.shape[1], transposed: transB), k: k, n: n)
        } else {
            packedB = nil
        }
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let type = try commonType(Array(inputs.prefix(2)), "Gemm")
        guard inputs.count >= 2, let a = inputs[0].shape, let b = inputs[1].shape else { return [ValueType(dataType: type)] }
        guard a.count == 2, b.count == 2 else { throw ONNXError(.invalidGraph, "Gemm needs 2-D inputs, got ranks \(a.count) and \(b.count)") }
        let m = transA ? a[1] : a[0], ka = transA ? a[0] : a[1]
        let kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1]
        if let ka, let kb, ka != kb { throw ONNXError(.invalidGraph, "inner dimensions differ: A \(a) and B \(b)") }
        return [ValueType(dataType: type, shape: [m, n])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let c = inputs.count > 2 ? inputs[2] : nil
        guard a.rank == 2, b.rank == 2 else { throw ONNXError(.invalidInput, "A and B must be 2-D, got \(a.shape) and \(b.shape)") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == kb else { throw ONNXError(.invalidInput, "inner dimensions differ: A \(a.shape)\(transA ? "ᵀ" : ""), B \(b.shape)\(transB ? "ᵀ" : "")") }
        guard a.dataType == b.dataType else { throw ONNXError(.invalidInput, "A is \(a.dataType), B is \(b.dataType)") }
        let out = try context.allocate(a.dataType, [m, n])
        var accumulate = false
        if let c, beta != 0 {
            guard c.dataType == a.dataType else { throw ONNXError(.invalidInput, "C is \(c.dataType), A is \(a.dataType)") }
            let plan = try Broadcast([c.shape], to: [m, n])
            try FillScaled(c: c, out: out, plan: plan, beta: Double(beta)).dispatch(a.dataType, "Gemm")
            accumulate = alpha == 1
        }
        guard a.dataType == .float32 else {
            try NaiveMatMul(a: a, b: b, out: out, m: m, n: n, k: k, aOffset: 0, bOffset: 0, outOffset: 0,
                            aStrides: transA ? (1, m) : (k, 1), bStrides: transB ? (1, k) : (n, 1),
                            alpha: Double(alpha), accumulate: c != nil && beta != 0).dispatch(a.dataType, "Gemm")
            return [out]
        }
        let opA = GemmA.view(MatrixView.rowMajor(a.floats, cols: a.shape[1], transposed: transA))
        let opB = packedB.map { GemmB.packed($0) } ?? .view(MatrixView.rowMajor(b.floats, cols: b.shape[1], transposed: transB))
        if accumulate || c == nil || beta == 0 {
            Gemm.multiply(m: m, n: n, k: k, a: opA, b: opB, c: out.floats, ldc: n, accumulate: accumulate, context: context)
            if alpha != 1 { let p = out.floats; for i in 0..<m * n { p[i] *= alpha } }
        } else {
            // out holds beta·C; add alpha·A·B through a scratch product.
            context.withScratch(floats: m * n) { tmp in
                Gemm.multiply(m: m, n: n, k: k, a: opA, b: opB, c: tmp, ldc: n, accumulate: false, context: context)
                let p = out.floats
                for i in 0..<m * n { p[i] += alpha * tmp[i] }
            }
        }
        return [out]
    }

    private struct FillScaled: ArithmeticVisitor {
        let c: Tensor, out: Tensor, plan: Broadcast, beta: Double
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            broadcastCopy(c.pointer(T.self), out.pointer(T.self), plan)
            if beta != 1 {
                let p = out.pointer(T.self), s = T(fromDouble: beta)
                for i in 0..<out.count { p[i] = T.mul(p[i], s) }
            }
        }
    }
}

/// Reference loops for element types the SIMD path does not cover.
struct NaiveMatMul: ArithmeticVisitor {
    let a: Tensor, b: Tensor, out: Tensor
    let m: Int, n: Int, k: Int
    let aOffset: Int, bOffset: Int, outOffset: Int
    let aStrides: (Int, Int), bStrides: (Int, Int)
    var alpha: Double = 1
    var accumulate = false

    func visit<T: ArithmeticElement>(_ type: T.Type) {
        let pa = a.pointer(T.self) + aOffset, pb = b.pointer(T.self) + bOffset, po = out.pointer(T.self) + outOffset
        let s = T(fromDouble: alpha)
        for i in 0..<m {
            for j in 0..<n {
                var acc = T.zero
                for p in 0..<k { acc = T.add(acc, T.mul(pa[i * aStrides.0 + p * aStrides.1], pb[p * bStrides.0 + j * bStrides.1])) }
                if alpha != 1 { acc = T.mul(acc, s) }
                po[i * n + j] = accumulate ? T.add(po[i * n + j], acc) : acc
            }
        }
    }
}

struct MatMulKernel: Kernel {
    let packedB: PackedB?

    init(_ ctx: KernelBuildContext) throws {
        if let b = ctx.constant(1), b.dataType == .float32, b.rank == 2 {
            packedB = PackedB(MatrixView.rowMajor(b.floats, cols: b.shape[1]), k: b.shape[0], n: b.shape[1])
        } else {
            packedB = nil
        }
    }

    /// Output shape per numpy.matmul, or nil when unknown.
    static func outputShape(_ a: [Int?], _ b: [Int?]) throws -> [Int?] {
        guard !a.isEmpty, !b.isEmpty else { throw ONNXError(.invalidInput, "MatMul inputs must not be scalars") }
        let a2 = a.count == 1 ? [1] + a : a, b2 = b.count == 1 ? b + [1] : b
        if let ka = a2.last!, let kb = b2[b2.count - 2], ka != kb {
            throw ONNXError(.invalidInput, "inner dimensions differ: \(a.map { $0 ?? -1 }) and \(b.map { $0 ?? -1 })")
        }
        let batch = inferBroadcastShape([Array(a2.dropLast(2)), Array(b2.dropLast(2))]) ?? []
        var shape = batch
        if a.count > 1 { shape.append(a2[a2.count - 2]) }
        if b.count > 1 { shape.append(b2.last!) }
        return shape
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let type = try commonType(inputs, "MatMul")
        guard inputs.count == 2, let a = inputs[0].shape, let b = inputs[1].shape else { return [ValueType(dataType: type)] }
        return [ValueType(dataType: type, shape: try Self.outputShape(a, b))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        guard a.dataType == b.dataType else { throw ONNXError(.invalidInput, "A is \(a.dataType), B is \(b.dataType)") }
        let outShape = try Self.outputShape(a.shape, b.shape).map { $0! }
        let aShape = a.rank == 1 ? [1] + a.shape : a.shape
        let bShape = b.rank == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape.last!, n = bShape.last!
        let out = try context.allocate(a.dataType, outShape)

        // B is one matrix: fold A's batch dimensions into M for a single large GEMM.
        if bShape.count == 2 {
            let rows = aShape.dropLast().reduce(1, *)
            if a.dataType == .float32 {
                let opB = packedB.map { GemmB.packed($0) } ?? .view(MatrixView.rowMajor(b.floats, cols: n))
                Gemm.multiply(m: rows, n: n, k: k, a: .view(MatrixView.rowMajor(a.floats, cols: k)), b: opB,
                              c: out.floats, ldc: n, accumulate: false, context: context)
            } else {
                try NaiveMatMul(a: a, b: b, out: out, m: rows, n: n, k: k, aOffset: 0, bOffset: 0, outOffset: 0,
                                aStrides: (k, 1), bStrides: (n, 1)).dispatch(a.dataType, "MatMul")
            }
            return [out]
        }

        // Batched: broadcast the leading dimensions.
        let batchA = Array(aShape.dropLast(2)), batchB = Array(bShape.dropLast(2))
        let batchShape = try Broadcast.outputShape([batchA, batchB])
        let batches = batchShape.reduce(1, *)
        var aOffsets = [Int](repeating: 0, count: batches), bOffsets = [Int](repeating: 0, count: batches)
        if batches > 0 {
            let plan = try Broadcast([batchA, batchB], to: batchShape)
            var index = 0
            plan.forEachRow { offsets, _, length in
                let sa = plan.strides[0].last!, sb = plan.strides[1].last!
                for i in 0..<length {
                    aOffsets[index] = (offsets[0] + i * sa) * m * k
                    bOffsets[index] = (offsets[1] + i * sb) * k * n
                    index += 1
                }
            }
        }
        if a.dataType != .float32 {
            for t in 0..<batches {
                try NaiveMatMul(a: a, b: b, out: out, m: m, n: n, k: k, aOffset: aOffsets[t], bOffset: bOffsets[t],
                                outOffset: t * m * n, aStrides: (k, 1), bStrides: (n, 1)).dispatch(a.dataType, "MatMul")
            }
            return [out]
        }
        let pa = SendablePointer(a.floats), pb = SendablePointer(b.floats), po = SendablePointer(out.floats)
        let one = { (t: Int, ctx: RunContext?) in
            Gemm.multiply(m: m, n: n, k: k, a: .view(MatrixView.rowMajor(pa.pointer + aOffsets[t], cols: k)),
                          b: .view(MatrixView.rowMajor(pb.pointer + bOffsets[t], cols: n)),
                          c: po.pointer + t * m * n, ldc: n, accumulate: false, context: ctx)
        }
        if context.threadCount > 1 && batches >= context.threadCount && m * n * k < Gemm.parallelThreshold * 4 {
            context.parallelFor(batches) { t in one(t, nil) }
        } else {
            for t in 0..<batches { one(t, context) }
        }
        return [out]
    }
}
