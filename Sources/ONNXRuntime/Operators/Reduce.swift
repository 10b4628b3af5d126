/// Reductions over any set of axes, and ArgMax/ArgMin.
enum ReduceOps {
    static let kernels: [String: KernelFactory] = {
        var table: [String: KernelFactory] = [:]
        let ops: [(String, ReduceKernel.Op)] = [("ReduceSum", .sum), ("ReduceMean", .mean), ("ReduceMax", .max), ("ReduceMin", .min),
                                                  ("ReduceProd", .prod), ("ReduceSumSquare", .sumSquare), ("ReduceL2", .l2), ("ReduceL1", .l1)]
        for (name, op) in ops {
            table[name] = { ctx in
                ReduceKernel(op: op, attributeAxes: try ctx.attributes.ints("axes"), keepDims: try ctx.attributes.int("keepdims", default: 1) != 0,
                             noopWithEmptyAxes: try ctx.attributes.int("noop_with_empty_axes", default: 0) != 0)
            }
        }
        table["ArgMax"] = { ctx in try ArgKernel(ctx, max: true) }
        table["ArgMin"] = { ctx in try ArgKernel(ctx, max: false) }
        return table
    }()
}

struct ReduceKernel: Kernel {
    enum Op { case sum, mean, max, min, prod, sumSquare, l2, l1 }
    let op: Op
    let attributeAxes: [Int]?
    let keepDims: Bool
    let noopWithEmptyAxes: Bool

    /// Reduced axes, or nil for "return the input unchanged".
    func axes(rank: Int, _ given: [Int]?) throws -> Set<Int>? {
        let list = given ?? []
        if list.isEmpty { return noopWithEmptyAxes ? nil : Set(0..<rank) }
        return try Set(list.map { try normalizeAxis($0, rank: max(rank, 1)) })
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: inputs.first?.dataType)
        var given = attributeAxes
        if given == nil, inputs.count > 1 {
            guard let e = inputs[1].elements, e.allSatisfy({ $0 != nil }) else { return [out] }
            given = e.map { $0! }
        }
        if let s = inputs.first?.shape {
            if let set = try axes(rank: s.count, given) {
                out.shape = keepDims ? s.enumerated().map { set.contains($0.offset) ? 1 : $0.element } : s.enumerated().filter { !set.contains($0.offset) }.map(\.element)
            } else {
                out.shape = s
            }
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let given = try attributeAxes ?? inputs[safe: 1].flatMap { $0 }.map { try intValues($0, "axes") }
        guard let set = try axes(rank: x.rank, given) else { return [x] }
        let kept = x.shape.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
        let outShape = keepDims ? kept : x.shape.enumerated().filter { !set.contains($0.offset) }.map(\.element)
        let out = try context.allocate(x.dataType, outShape)
        var strides = [Int](repeating: 0, count: x.rank)
        var acc = 1
        for i in stride(from: x.rank - 1, through: 0, by: -1) {
            strides[i] = set.contains(i) ? 0 : acc
            acc *= kept[i]
        }
        let reduced = set.reduce(1) { $0 * (x.rank == 0 ? 1 : x.shape[$1]) }
        if x.count == 0 && (op == .max || op == .min) { throw ONNXError(.invalidInput, "cannot take the \(op) of an empty tensor") }
        try Visitor(op: op, x: x, out: out, plan: LoopPlan(shape: x.shape, strides: strides), reduced: reduced).dispatch(x.dataType, "\(op)")
        return [out]
    }

    private struct Visitor: ArithmeticVisitor {
        let op: Op, x: Tensor, out: Tensor, plan: LoopPlan, reduced: Int
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(T.self), n = out.count
            let initial: T = switch op { case .max: T.lowest; case .min: T.highest; case .prod: T.one; default: T.zero }
            for i in 0..<n { dst[i] = initial }
            plan.forEachRow { o, i, len, step in
                let s = src + i
                switch op {
                case .sum, .mean:
                    if step == 0 { var a = dst[o]; for j in 0..<len { a = T.add(a, s[j]) }; dst[o] = a } else { for j in 0..<len { dst[o + j] = T.add(dst[o + j], s[j]) } }
                case .sumSquare, .l2:
                    for j in 0..<len { dst[o + j * step] = T.add(dst[o + j * step], T.mul(s[j], s[j])) }
                case .l1:
                    for j in 0..<len { let v = s[j] < T.zero ? T.sub(T.zero, s[j]) : s[j]; dst[o + j * step] = T.add(dst[o + j * step], v) }
                case .prod:
                    for j in 0..<len { dst[o + j * step] = T.mul(dst[o + j * step], s[j]) }
                case .max:
                    for j in 0..<len { let v = s[j]; if v > dst[o + j * step] || v != v { dst[o + j * step] = v } }
                case .min:
                    for j in 0..<len { let v = s[j]; if v < dst[o + j * step] || v != v { dst[o + j * step] = v } }
                }
            }
            if op == .mean && reduced > 0 {
                for i in 0..<n { dst[i] = T.div(dst[i], T(fromDouble: Double(reduced))) }
            } else if op == .l2 {
                for i in 0..<n { dst[i] = T(fromDouble: dst[i].doubleValue.squareRoot()) }
            }
        }
    }
}

struct ArgKernel: Kernel {
    let axis: Int
    let keepDims: Bool
    let selectLast: Bool
    let isMax: Bool

    init(_ ctx: KernelBuildContext, max: Bool) throws {
        axis = try ctx.attributes.int("axis", default: 0)
        keepDims = try ctx.attributes.int("keepdims", default: 1) != 0
        selectLast = try ctx.attributes.int("select_last_index", default: 0) != 0
        isMax = max
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: .int64)
        if let s = inputs.first?.shape {
            let a = try normalizeAxis(axis, rank: s.count)
            out.shape = keepDims ? s.enumerated().map { $0.offset == a ? 1 : $0.element } : s.enumerated().filter { $0.offset != a }.map(\.element)
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let a = try normalizeAxis(axis, rank: x.rank)
        guard x.shape[a] > 0 else { throw ONNXError(.invalidInput, "cannot take ArgMax/ArgMin over an empty axis") }
        var shape = x.shape
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        let out = try context.allocate(.int64, shape)
        try Visitor(x: x, out: out, outer: x.shape[..<a].reduce(1, *), length: x.shape[a], inner: x.shape[(a + 1)...].reduce(1, *),
                    selectLast: selectLast, isMax: isMax).dispatch(x.dataType, "ArgMax")
        return [out]
    }

    private struct Visitor: ArithmeticVisitor {
        let x: Tensor, out: Tensor, outer: Int, length: Int, inner: Int, selectLast: Bool, isMax: Bool
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(Int64.self)
            for o in 0..<outer {
                for j in 0..<inner {
                    let base = o * length * inner + j
                    var best = src[base], index = 0
                    for i in 1..<max(length, 1) {
                        let v = src[base + i * inner]
                        let better = isMax ? (selectLast ? v >= best : v > best) : (selectLast ? v <= best : v < best)
                        if better { best = v; index = i }
                    }
                    dst[o * inner + j] = Int64(index)
                }
            }
        }
    }
}
