/// Binary arithmetic, comparisons, logic, Where and Cast, all with numpy broadcasting.
enum ElementwiseOps {
    static let kernels: [String: KernelFactory] = [
        "Add": { _ in BinaryKernel(op: .add) },
        "Sub": { _ in BinaryKernel(op: .sub) },
        "Mul": { _ in BinaryKernel(op: .mul) },
        "Div": { _ in BinaryKernel(op: .div) },
        "Pow": { _ in BinaryKernel(op: .pow) },
        "Mod": { ctx in BinaryKernel(op: try ctx.attributes.int("fmod", default: 0) == 1 ? .fmod : .mod) },
        "Max": { _ in BinaryKernel(op: .max) },
        "Min": { _ in BinaryKernel(op: .min) },
        "Sum": { _ in BinaryKernel(op: .add) },
        "Equal": { _ in CompareKernel(op: .equal) },
        "Less": { _ in CompareKernel(op: .less) },
        "LessOrEqual": { _ in CompareKernel(op: .lessOrEqual) },
        "Greater": { _ in CompareKernel(op: .greater) },
        "GreaterOrEqual": { _ in CompareKernel(op: .greaterOrEqual) },
        "And": { _ in LogicKernel(op: .and) },
        "Or": { _ in LogicKernel(op: .or) },
        "Xor": { _ in LogicKernel(op: .xor) },
        "Not": { _ in NotKernel() },
        "Where": { _ in WhereKernel() },
        "Cast": { ctx in
            let code = try ctx.attributes.int("to") ?? -1
            guard let to = DataType(rawValue: Int32(clamping: code)) else {
                throw ONNXError(.unsupported, "Cast to element type code \(code) is not supported")
            }
            return CastKernel(to: to)
        },
        "CastLike": { _ in CastKernel(to: nil) },
    ]
}

/// Broadcast shape from partially known shapes (nil dims are dynamic).
func inferBroadcastShape(_ shapes: [[Int?]?]) -> [Int?]? {
    guard shapes.allSatisfy({ $0 != nil }) else { return nil }
    let all = shapes.map { $0! }
    let rank = all.map(\.count).max() ?? 0
    var out = [Int?](repeating: 1, count: rank)
    for s in all {
        for (i, d) in s.enumerated() {
            let o = rank - s.count + i
            switch (out[o], d) {
            case (1, _): out[o] = d
            case (_, 1): break
            case (nil, let x): out[o] = x
            case (_, nil): break
            default: break
            }
        }
    }
    return out
}

/// Input types must agree; returns the common one.
func commonType(_ inputs: [ValueType], _ what: String) throws -> DataType? {
    let known = inputs.compactMap(\.dataType)
    if let first = known.first, let other = known.first(where: { $0 != first }) {
        throw ONNXError(.invalidGraph, "\(what) inputs have different element types (\(first) and \(other))")
    }
    return known.first
}

struct BinaryKernel: Kernel {
    enum Op { case add, sub, mul, div, pow, mod, fmod, max, min }
    let op: Op

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let type = op == .pow ? inputs.first?.dataType : try commonType(inputs, "\(op)")
        return [ValueType(dataType: type, shape: inferBroadcastShape(inputs.map(\.shape)))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        var result = try required(inputs, 0)
        guard inputs.count > 1 else { return [result] }
        for i in 1..<inputs.count {
            var other = try required(inputs, i)
            if op == .pow && other.dataType != result.dataType {
                other = try CastKernel.convert(other, to: result.dataType, context)
            }
            guard other.dataType == result.dataType else {
                throw ONNXError(.invalidInput, "inputs have different element types (\(result.dataType) and \(other.dataType))")
            }
            result = try apply(result, other, context)
        }
        return [result]
    }

    private func apply(_ a: Tensor, _ b: Tensor, _ context: RunContext) throws -> Tensor {
        let plan = try Broadcast([a.shape, b.shape])
        let out = try context.allocate(a.dataType, plan.shape)
        if op == .pow, a.dataType == .float32, b.count == 1, b.floats[0] == 2 {
            let pa = a.floats, po = out.floats
            for i in 0..<out.count { po[i] = pa[i] * pa[i] }
            return out
        }
        try Visitor(op: op, a: a, b: b, out: out, plan: plan).dispatch(a.dataType, "\(op)")
        return out
    }

    private struct Visitor: ArithmeticVisitor {
        let op: Op, a: Tensor, b: Tensor, out: Tensor, plan: Broadcast
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let pa = UnsafePointer(a.pointer(T.self)), pb = UnsafePointer(b.pointer(T.self)), po = out.pointer(T.self)
            switch op {
            case .add: broadcastBinary(pa, pb, po, plan) { T.add($0, $1) }
            case .sub: broadcastBinary(pa, pb, po, plan) { T.sub($0, $1) }
            case .mul: broadcastBinary(pa, pb, po, plan) { T.mul($0, $1) }
            case .div: broadcastBinary(pa, pb, po, plan) { T.div($0, $1) }
            case .pow: broadcastBinary(pa, pb, po, plan) { T.power($0, $1) }
            case .mod: broadcastBinary(pa, pb, po, plan) { T.mod($0, $1, fmod: false) }
            case .fmod: broadcastBinary(pa, pb, po, plan) { T.mod($0, $1, fmod: true) }
            // NaN wins in either position (x != x only for NaN).
            case .max: broadcastBinary(pa, pb, po, plan) { $0 != $0 || $0 >= $1 ? $0 : $1 }
            case .min: broadcastBinary(pa, pb, po, plan) { $0 != $0 || $0 <= $1 ? $0 : $1 }
            }
        }
    }
}

struct CompareKernel: Kernel {
    enum Op { case equal, less, lessOrEqual, greater, greaterOrEqual }
    let op: Op

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        _ = try commonType(inputs, "\(op)")
        return [ValueType(dataType: .bool, shape: inferBroadcastShape(inputs.map(\.shape)))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let a = try required(inputs, 0), b = try required(inputs, 1)
        guard a.dataType == b.dataType else {
            throw ONNXError(.invalidInput, "inputs have different element types (\(a.dataType) and \(b.dataType))")
        }
        let plan = try Broadcast([a.shape, b.shape])
        let out = try context.allocate(.bool, plan.shape)
        if a.dataType == .bool {
            guard op == .equal else { throw ONNXError(.invalidInput, "\(op) does not support BOOL tensors") }
            broadcastBinary(UnsafePointer(a.pointer(UInt8.self)), UnsafePointer(b.pointer(UInt8.self)), out.pointer(Bool.self), plan) { $0 == $1 }
        } else {
            try Visitor(op: op, a: a, b: b, out: out, plan: plan).dispatch(a.dataType, "\(op)")
        }
        return [out]
    }

    private struct Visitor: ArithmeticVisitor {
        let op: Op, a: Tensor, b: Tensor, out: Tensor, plan: Broadcast
        func visit<T: ArithmeticElement>(_ type: T.Type) {
            let pa = UnsafePointer(a.pointer(T.self)), pb = UnsafePointer(b.pointer(T.self)), po = out.pointer(Bool.self)
            switch op {
            case .equal: broadcastBinary(pa, pb, po, plan) { $0 == $1 }
            case .less: broadcastBinary(pa, pb, po, plan) { $0 < $1 }
            case .lessOrEqual: broadcastBinary(pa, pb, po, plan) { $0 <= $1 }
            case .greater: broadcastBinary(pa, pb, po, plan) { $0 > $1 }
            case .greaterOrEqual: broadcastBinary(pa, pb, po, plan) { $0 >= $1 }
            }
        }
    }
}

struct LogicKernel: Kernel {
    enum Op { case and, or, xor }
    let op: Op

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        [ValueType(dataType: .bool, shape: inferBroadcastShape(inputs.map(\.shape)))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let a = try required(inputs, 0), b = try required(inputs, 1)
        try checkType(a, [.bool], "input A")
        try checkType(b, [.bool], "input B")
        let plan = try Broadcast([a.shape, b.shape])
        let out = try context.allocate(.bool, plan.shape)
        let pa = UnsafePointer(a.pointer(Bool.self)), pb = UnsafePointer(b.pointer(Bool.self)), po = out.pointer(Bool.self)
        switch op {
        case .and: broadcastBinary(pa, pb, po, plan) { $0 && $1 }
        case .or: broadcastBinary(pa, pb, po, plan) { $0 || $1 }
        case .xor: broadcastBinary(pa, pb, po, plan) { $0 != $1 }
        }
        return [out]
    }
}

struct NotKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: .bool, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let a = try required(inputs, 0)
        try checkType(a, [.bool], "input")
        let out = try context.allocate(.bool, a.shape)
        let pa = a.pointer(Bool.self), po = out.pointer(Bool.self)
        for i in 0..<a.count { po[i] = !pa[i] }
        return [out]
    }
}

struct WhereKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard inputs.count == 3 else { throw ONNXError(.invalidGraph, "Where needs 3 inputs") }
        let type = try commonType(Array(inputs[1...]), "Where")
        return [ValueType(dataType: type, shape: inferBroadcastShape(inputs.map(\.shape)))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let c = try required(inputs, 0, "condition"), x = try required(inputs, 1, "X"), y = try required(inputs, 2, "Y")
        try checkType(c, [.bool], "condition")
        guard x.dataType == y.dataType else { throw ONNXError(.invalidInput, "X is \(x.dataType) but Y is \(y.dataType)") }
        let plan = try Broadcast([c.shape, x.shape, y.shape])
        let out = try context.allocate(x.dataType, plan.shape)
        try Visitor(c: c, x: x, y: y, out: out, plan: plan).dispatch(x.dataType)
        return [out]
    }

    private struct Visitor: CarrierVisitor {
        let c: Tensor, x: Tensor, y: Tensor, out: Tensor, plan: Broadcast
        func visit<T: FixedWidthInteger>(_ type: T.Type) {
            let pc = c.pointer(Bool.self), px = x.pointer(T.self), py = y.pointer(T.self), po = out.pointer(T.self)
            let sc = plan.strides[0].last!, sx = plan.strides[1].last!, sy = plan.strides[2].last!
            plan.forEachRow { offsets, o, n in
                let cc = pc + offsets[0], xx = px + offsets[1], yy = py + offsets[2], oo = po + o
                for i in 0..<n { oo[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy] }
            }
        }
    }
}

struct CastKernel: Kernel {
    /// Target type; nil for CastLike (taken from the second input).
    let to: DataType?

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var t = inputs.first ?? .unknown
        t.dataType = to ?? (inputs.count > 1 ? inputs[1].dataType : nil)
        if t.dataType != .int64 { t.elements = nil }
        return [t]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let target = try to ?? required(inputs, 1, "target_type").dataType
        return [try Self.convert(x, to: target, context)]
    }

    /// Converts element types like a C cast: floats truncate toward zero (saturating, NaN to 0),
    /// integers wrap, anything non-zero is true.
    static func convert(_ x: Tensor, to target: DataType, _ context: RunContext) throws -> Tensor {
        if x.dataType == target { return x }
        let n = x.count
        let out = try context.allocate(target, x.shape)
        if x.dataType == .float32 || x.dataType == .float64 {
            var wide = [Double](repeating: 0, count: n)
            if x.dataType == .float32 { let p = x.floats; for i in 0..<n { wide[i] = Double(p[i]) } } else {
                let p = x.pointer(Double.self); for i in 0..<n { wide[i] = p[i] }
            }
            writeAny(wide, nil, out)
        } else {
            var wide = [Int64](repeating: 0, count: n)
            switch x.dataType {
            case .int64: let p = x.pointer(Int64.self); for i in 0..<n { wide[i] = p[i] }
            case .int32: let p = x.pointer(Int32.self); for i in 0..<n { wide[i] = Int64(p[i]) }
            case .int8: let p = x.pointer(Int8.self); for i in 0..<n { wide[i] = Int64(p[i]) }
            case .uint8: let p = x.pointer(UInt8.self); for i in 0..<n { wide[i] = Int64(p[i]) }
            case .bool: let p = x.pointer(Bool.self); for i in 0..<n { wide[i] = p[i] ? 1 : 0 }
            case .float32, .float64: break
            }
            writeAny(nil, wide, out)
        }
        return out
    }

    private static func writeAny(_ doubles: [Double]?, _ ints: [Int64]?, _ out: Tensor) {
        let n = out.count
        switch out.dataType {
        case .float32:
            let p = out.floats
            if let doubles { for i in 0..<n { p[i] = Float(doubles[i]) } } else if let ints { for i in 0..<n { p[i] = Float(ints[i]) } }
        case .float64:
            let p = out.pointer(Double.self)
            if let doubles { for i in 0..<n { p[i] = doubles[i] } } else if let ints { for i in 0..<n { p[i] = Double(ints[i]) } }
        case .bool:
            let p = out.pointer(Bool.self)
            if let doubles { for i in 0..<n { p[i] = doubles[i] != 0 } } else if let ints { for i in 0..<n { p[i] = ints[i] != 0 } }
        case .int64: fill(out.pointer(Int64.self), n, doubles, ints)
        case .int32: fill(out.pointer(Int32.self), n, doubles, ints)
        case .int8: fill(out.pointer(Int8.self), n, doubles, ints)
        case .uint8: fill(out.pointer(UInt8.self), n, doubles, ints)
        }
    }

    private static func fill<T: FixedWidthInteger>(_ p: UnsafeMutablePointer<T>, _ n: Int, _ doubles: [Double]?, _ ints: [Int64]?) {
        if let doubles {
            // Through Int64 first so that e.g. -1.5 -> UInt8 wraps like C rather than saturating at 0.
            for i in 0..<n { p[i] = T(truncatingIfNeeded: Int64(clampingDouble: doubles[i])) }
        } else if let ints {
            for i in 0..<n { p[i] = T(truncatingIfNeeded: ints[i]) }
        }
    }
}
