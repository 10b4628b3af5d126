/// Unary math, activations, Clip and the softmax family.
enum ActivationOps {
    static let kernels: [String: KernelFactory] = [
        "Relu": { _ in UnaryKernel(op: .relu) },
        "LeakyRelu": { ctx in UnaryKernel(op: .leakyRelu, alpha: try ctx.attributes.float("alpha", default: 0.01)) },
        "Elu": { ctx in UnaryKernel(op: .elu, alpha: try ctx.attributes.float("alpha", default: 1)) },
        "Sigmoid": { _ in UnaryKernel(op: .sigmoid) },
        "HardSigmoid": { ctx in
            UnaryKernel(op: .hardSigmoid, alpha: try ctx.attributes.float("alpha", default: 0.2), beta: try ctx.attributes.float("beta", default: 0.5))
        },
        "Softplus": { _ in UnaryKernel(op: .softplus) },
        "Tanh": { _ in UnaryKernel(op: .tanh) },
        "Erf": { _ in UnaryKernel(op: .erf) },
        "Gelu": { ctx in
            let approximate = try ctx.attributes.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else { throw ONNXError(.invalidGraph, "approximate '\(approximate)' is not none or tanh") }
            return UnaryKernel(op: approximate == "tanh" ? .geluTanh : .gelu)
        },
        "Sqrt": { _ in UnaryKernel(op: .sqrt) },
        "Exp": { _ in UnaryKernel(op: .exp) },
        "Log": { _ in UnaryKernel(op: .log) },
        "Reciprocal": { _ in UnaryKernel(op: .reciprocal) },
        "Floor": { _ in UnaryKernel(op: .floor) },
        "Ceil": { _ in UnaryKernel(op: .ceil) },
        "Round": { _ in UnaryKernel(op: .round) },
        "Neg": { _ in UnaryKernel(op: .neg) },
        "Abs": { _ in UnaryKernel(op: .abs) },
        "Sign": { _ in UnaryKernel(op: .sign) },
        "Clip": { _ in ClipKernel() },
        "Softmax": { ctx in try SoftmaxKernel(ctx, log: false) },
        "LogSoftmax": { ctx in try SoftmaxKernel(ctx, log: true) },
    ]
}

struct UnaryKernel: Kernel {
    enum Op { case relu, leakyRelu, elu, sigmoid, hardSigmoid, softplus, tanh, erf, gelu, geluTanh, sqrt, exp, log, reciprocal, floor, ceil, round, neg, abs, sign }
    let op: Op
    var alpha: Float = 0
    var beta: Float = 0

    /// The 8-wide FP32 form, for ops whose scalar form calls libm.
    private var vectorized: ((F8) -> F8)? {
        switch op {
        case .exp: { VectorMath.exp($0) }
        case .erf: { VectorMath.erf($0) }
        case .sigmoid: { 1 / (1 + VectorMath.exp(-$0)) }
        case .gelu: { $0 * 0.5 * (1 + VectorMath.erf($0 * 0.7071067811865476)) }
        default: nil
        }
    }

    /// Ops defined for integer tensors as well.
    private var acceptsIntegers: Bool { [.relu, .neg, .abs, .sign].contains(op) }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        if let t = inputs.first?.dataType, t != .float32, t != .float64, !acceptsIntegers {
            throw ONNXError(.invalidGraph, "input has type \(t); this operator needs FP32 or FP64")
        }
        return [ValueType(dataType: inputs.first?.dataType, shape: inputs.first?.shape)]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let out = try context.allocate(x.dataType, x.shape)
        if x.dataType == .float32, let f = vectorized {
            VectorMath.map(x.floats, out.floats, x.count, f)
        } else if x.dataType == .float32 || x.dataType == .float64 {
            try FloatMath(op: op, alpha: alpha, beta: beta, x: x, out: out).dispatch(x.dataType, "\(op)")
        } else if acceptsIntegers {
            try IntegerMath(op: op, x: x, out: out).dispatch(x.dataType, "\(op)")
        } else {
            throw ONNXError(.invalidInput, "input has type \(x.dataType); this operator needs FP32 or FP64")
        }
        return [out]
    }

    private struct FloatMath: FloatVisitor {
        let op: Op, alpha: Float, beta: Float, x: Tensor, out: Tensor
        func visit<T: FloatElement>(_ type: T.Type) {
            let p = x.pointer(T.self), o = out.pointer(T.self), n = x.count
            let a = T(alpha), b = T(beta)
            switch op {
            case .relu: for i in 0..<n { o[i] = p[i] > 0 ? p[i] : 0 }
            case .leakyRelu: for i in 0..<n { o[i] = p[i] >= 0 ? p[i] : a * p[i] }
            case .elu: for i in 0..<n { o[i] = p[i] >= 0 ? p[i] : a * (T.exp(p[i]) - 1) }
            case .sigmoid:
                for i in 0..<n {
                    // Written so that exp never overflows.
                    let v = p[i]
                    if v >= 0 { o[i] = 1 / (1 + T.exp(-v)) } else { let e = T.exp(v); o[i] = e / (1 + e) }
                }
            case .hardSigmoid: for i in 0..<n { o[i] = max(0, min(1, a * p[i] + b)) }
            case .softplus: for i in 0..<n { let v = p[i]; o[i] = v > 0 ? v + T.log(1 + T.exp(-v)) : T.log(1 + T.exp(v)) }
            case .tanh: for i in 0..<n { o[i] = T.tanh(p[i]) }
            case .erf: for i in 0..<n { o[i] = T.erf(p[i]) }
            case .gelu: for i in 0..<n { o[i] = p[i] * T(0.5) * (1 + T.erf(p[i] * T(0.7071067811865476))) }
            case .geluTanh:
                for i in 0..<n {
                    let v = p[i]
                    o[i] = T(0.5) * v * (1 + T.tanh(T(0.7978845608028654) * (v + T(0.044715) * v * v * v)))
                }
            case .sqrt: for i in 0..<n { o[i] = T.sqrt(p[i]) }
            case .exp: for i in 0..<n { o[i] = T.exp(p[i]) }
            case .log: for i in 0..<n { o[i] = T.log(p[i]) }
            case .reciprocal: for i in 0..<n { o[i] = 1 / p[i] }
            case .floor: for i in 0..<n { o[i] = p[i].rounded(.down) }
            case .ceil: for i in 0..<n { o[i] = p[i].rounded(.up) }
            case .round: for i in 0..<n { o[i] = p[i].rounded(.toNearestOrEven) }
            case .neg: for i in 0..<n { o[i] = -p[i] }
            case .abs: for i in 0..<n { o[i] = Swift.abs(p[i]) }
            case .sign: for i in 0..<n { o[i] = p[i] > 0 ? 1 : (p[i] < 0 ? -1 : p[i]) }
            }
        }
    }

    private struct IntegerMath: ArithmeticVisitor {
        let op: Op, x: Tensor, out: Tensor
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let p = x.pointer(T.self), o = out.pointer(T.self), n = x.count
            switch op {
            case .relu: for i in 0..<n { o[i] = p[i] > T.zero ? p[i] : T.zero }
            case .neg: for i in 0..<n { o[i] = T.sub(T.zero, p[i]) }
            case .abs: for i in 0..<n { o[i] = p[i] < T.zero ? T.sub(T.zero, p[i]) : p[i] }
            case .sign: for i in 0..<n { o[i] = p[i] > T.zero ? T.one : (p[i] < T.zero ? T.sub(T.zero, T.one) : T.zero) }
            default: break
            }
        }
    }
}

/// Runs a kernel whose output it owns (a fresh FP32 buffer) and applies Relu to it in place.
struct ReluEpilogue: Kernel {
    let inner: any Kernel

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { try inner.inferTypes(inputs, outputCount: outputCount) }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let outputs = try inner.run(inputs, context)
        guard let y = outputs.first else { return outputs }
        if y.dataType == .float32 {
            let p = y.floats
            for i in 0..<y.count { p[i] = p[i] > 0 ? p[i] : 0 }
        } else {
            return [try UnaryKernel(op: .relu).run([y], context)[0]]
        }
        return outputs
    }
}

struct ClipKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: inputs.first?.dataType, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let lo = inputs.count > 1 ? inputs[1] : nil, hi = inputs.count > 2 ? inputs[2] : nil
        for bound in [lo, hi] {
            if let bound, bound.dataType != x.dataType || bound.count != 1 {
                throw ONNXError(.invalidInput, "min/max must be scalars of the input's type \(x.dataType)")
            }
        }
        let out = try context.allocate(x.dataType, x.shape)
        try Visitor(x: x, lo: lo, hi: hi, out: out).dispatch(x.dataType, "Clip")
        return [out]
    }

    private struct Visitor: ArithmeticVisitor {
        let x: Tensor, lo: Tensor?, hi: Tensor?, out: Tensor
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let p = x.pointer(T.self), o = out.pointer(T.self)
            let l = lo?.pointer(T.self)[0] ?? T.lowest, h = hi?.pointer(T.self)[0] ?? T.highest
            // min(max(x, lo), hi): when lo > hi every element becomes hi.
            for i in 0..<x.count { let v = p[i]; let m = v < l ? l : v; o[i] = m > h ? h : m }
        }
    }
}

struct SoftmaxKernel: Kernel {
    let axis: Int
    let log: Bool
    /// Before opset 13 the input is viewed as 2-D at `axis` and normalised over the whole second part.
    let flattens: Bool

    init(_ ctx: KernelBuildContext, log: Bool) throws {
        flattens = ctx.opset < 13
        axis = try ctx.attributes.int("axis", default: flattens ? 1 : -1)
        self.log = log
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: inputs.first?.dataType, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let a = try normalizeAxis(axis, rank: max(x.rank, 1))
        let shape = x.rank == 0 ? [1] : x.shape
        let outer = shape[..<a].reduce(1, *)
        let length = flattens ? shape[a...].reduce(1, *) : shape[a], inner = flattens ? 1 : shape[(a + 1)...].reduce(1, *)
        let out = try context.allocate(x.dataType, x.shape)
        if x.dataType == .float32 && inner == 1 && !log {
            for r in 0..<outer { Self.softmaxRow(x.floats + r * length, out.floats + r * length, length) }
            return [out]
        }
        try Visitor(x: x, out: out, outer: outer, length: length, inner: inner, log: log).dispatch(x.dataType, log ? "LogSoftmax" : "Softmax")
        return [out]
    }

    /// One contiguous row with the vector exp.
    static func softmaxRow(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, src[i]) }
        let shift = m
        VectorMath.map(src, dst, n) { VectorMath.exp($0 - shift) }
        var sum: Float = 0
        for i in 0..<n { sum += dst[i] }
        let r = 1 / sum
        for i in 0..<n { dst[i] *= r }
    }

    private struct Visitor: FloatVisitor {
        let x: Tensor, out: Tensor, outer: Int, length: Int, inner: Int, log: Bool
        func visit<T: FloatElement>(_ type: T.Type) {
            let p = x.pointer(T.self), o = out.pointer(T.self)
            for b in 0..<outer {
                for j in 0..<inner {
                    let base = b * length * inner + j
                    var m = -T.infinity
                    for i in 0..<length { m = max(m, p[base + i * inner]) }
                    var sum: T = 0
                    for i in 0..<length {
                        let e = T.exp(p[base + i * inner] - m)
                        o[base + i * inner] = e
                        sum += e
                    }
                    if log {
                        let ls = T.log(sum)
                        for i in 0..<length { o[base + i * inner] = p[base + i * inner] - m - ls }
                    } else {
                        let r = 1 / sum
                        for i in 0..<length { o[base + i * inner] *= r }
                    }
                }
            }
        }
    }
}
