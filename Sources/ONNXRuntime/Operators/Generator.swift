/// Ops that create tensors: Constant, ConstantOfShape, Range.
enum GeneratorOps {
    static let kernels: [String: KernelFactory] = [
        "Constant": { ctx in ConstantKernel(value: try ConstantKernel.value(ctx)) },
        "ConstantOfShape": { ctx in
            let value = try ctx.attributes.tensor("value", baseDirectory: ctx.baseDirectory) ?? Tensor(shape: [1], values: [Float(0)])
            guard value.count == 1 else { throw ONNXError(.invalidGraph, "value must hold exactly one element") }
            return ConstantOfShapeKernel(value: value)
        },
        "Range": { _ in RangeKernel() },
    ]
}

struct ConstantKernel: Kernel {
    let value: Tensor

    static func value(_ ctx: KernelBuildContext) throws -> Tensor {
        let a = ctx.attributes
        if let t = try a.tensor("value", baseDirectory: ctx.baseDirectory) { return t }
        if let f = try a.float("value_float") { return Tensor(shape: [], values: [f]) }
        if let fs = try a.floats("value_floats") { return Tensor(shape: [fs.count], values: fs) }
        if let i = try a.int("value_int") { return Tensor(shape: [], values: [Int64(i)]) }
        if let v = a.values["value_ints"], v.kind == .ints { return Tensor(shape: [v.ints.count], values: v.ints) }
        if a.has("value_string") || a.has("value_strings") { throw ONNXError(.unsupported, "string constants are not supported") }
        if a.has("sparse_value") { throw ONNXError(.unsupported, "sparse constants are not supported") }
        throw ONNXError(.invalidGraph, "Constant has no value attribute")
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(value)] }
    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] { [value] }
}

struct ConstantOfShapeKernel: Kernel {
    let value: Tensor

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        [ValueType(dataType: value.dataType, shape: inputs.first?.elements)]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let shape = try intValues(required(inputs, 0, "shape"), "shape")
        let out = try context.allocate(value.dataType, shape)
        let width = value.dataType.byteWidth
        for i in 0..<out.count { (out.storage.pointer + i * width).copyMemory(from: value.storage.pointer, byteCount: width) }
        return [out]
    }
}

struct RangeKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        [ValueType(dataType: inputs.first?.dataType, shape: [nil])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let start = try required(inputs, 0, "start"), limit = try required(inputs, 1, "limit"), delta = try required(inputs, 2, "delta")
        guard start.count == 1, limit.count == 1, delta.count == 1, start.dataType == limit.dataType, start.dataType == delta.dataType else {
            throw ONNXError(.invalidInput, "start, limit and delta must be scalars of one type")
        }
        return [try Visitor(start: start, limit: limit, delta: delta, context: context).dispatch(start.dataType, "Range")]
    }

    private struct Visitor: ArithmeticVisitor {
        let start: Tensor, limit: Tensor, delta: Tensor, context: RunContext
        func visit<T: ArithmeticElement>(_ type: T.Type) throws -> Tensor {
            let s = start.pointer(T.self)[0], l = limit.pointer(T.self)[0], d = delta.pointer(T.self)[0]
            guard d != T.zero else { throw ONNXError(.invalidInput, "delta must not be zero") }
            let steps = ((l.doubleValue - s.doubleValue) / d.doubleValue).rounded(.up)
            guard steps.isFinite, steps < Double(1 << 32) else { throw ONNXError(.invalidInput, "Range would have \(steps) elements") }
            let n = max(0, Int(steps))
            let out = try context.allocate(start.dataType, [n])
            let p = out.pointer(T.self)
            for i in 0..<n { p[i] = T.add(s, T.mul(T(fromDouble: Double(i)), d)) }
            return out
        }
    }
}
