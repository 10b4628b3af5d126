/// Ops that change or report a shape; all but Shape/Size return views of their input (no copy).
enum ShapeOps {
    static let kernels: [String: KernelFactory] = [
        "Identity": { _ in IdentityKernel() },
        "Dropout": { ctx in
            if let training = ctx.constant(2), training.dataType == .bool, training.pointer(Bool.self)[0] {
                throw ONNXError(.unsupported, "training_mode=true is not supported")
            }
            return IdentityKernel(maskOutput: ctx.outputCount > 1)
        },
        "Reshape": { ctx in ReshapeKernel(allowZero: try ctx.attributes.int("allowzero", default: 0) != 0) },
        "Flatten": { ctx in FlattenKernel(axis: try ctx.attributes.int("axis", default: 1)) },
        "Squeeze": { ctx in SqueezeKernel(attributeAxes: try ctx.attributes.ints("axes")) },
        "Unsqueeze": { ctx in UnsqueezeKernel(attributeAxes: try ctx.attributes.ints("axes")) },
        "Shape": { ctx in ShapeKernel(start: try ctx.attributes.int("start", default: 0), end: try ctx.attributes.int("end")) },
        "Size": { _ in SizeKernel() },
    ]
}

struct IdentityKernel: Kernel {
    var maskOutput = false

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = [inputs.first ?? .unknown]
        if outputCount > 1 { out.append(ValueType(dataType: .bool, shape: inputs.first?.shape)) }
        return out
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        guard maskOutput else { return [x] }
        let mask = try context.allocate(.bool, x.shape)
        mask.withUnsafeMutableBytes { if $0.count > 0 { $0.initializeMemory(as: UInt8.self, repeating: 1) } }
        return [x, mask]
    }
}

/// Resolves a Reshape target: 0 copies the input dimension (unless allowzero), -1 is inferred.
func resolveReshape(_ input: [Int], _ target: [Int], allowZero: Bool) throws -> [Int] {
    var shape = target
    var inferred: Int?
    for (i, d) in target.enumerated() {
        if d == 0 && !allowZero {
            guard i < input.count else { throw ONNXError(.invalidInput, "shape \(target) copies dimension \(i) of \(input), which does not exist") }
            shape[i] = input[i]
        } else if d == -1 {
            guard inferred == nil else { throw ONNXError(.invalidInput, "shape \(target) has more than one -1") }
            inferred = i
        } else if d < -1 {
            throw ONNXError(.invalidInput, "shape \(target) has a negative dimension")
        }
    }
    let total = try elementCount(input)
    if let inferred {
        let known = try elementCount(shape.enumerated().filter { $0.offset != inferred }.map(\.element))
        guard known > 0, total % known == 0 else { throw ONNXError(.invalidInput, "cannot reshape \(input) to \(target)") }
        shape[inferred] = total / known
    }
    guard try elementCount(shape) == total else { throw ONNXError(.invalidInput, "cannot reshape \(input) (\(total) elements) to \(target)") }
    return shape
}

struct ReshapeKernel: Kernel {
    let allowZero: Bool

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard inputs.count >= 2 else { throw ONNXError(.invalidGraph, "Reshape needs data and shape inputs") }
        var out = ValueType(dataType: inputs[0].dataType)
        if let target = inputs[1].elements {
            let input = inputs[0].shape
            var shape: [Int?] = target.enumerated().map { i, d in
                guard let d else { return nil }
                if d == 0 && !allowZero { return input?[safe: i] ?? nil }
                return d == -1 ? nil : d
            }
            // A single -1 can be resolved when everything else is known.
            if let full = inputs[0].staticShape, let total = try? elementCount(full),
               let hole = target.firstIndex(of: -1), shape.indices.allSatisfy({ $0 == hole || shape[$0] != nil }) {
                if let rest = checkedProduct(shape.enumerated().filter { $0.offset != hole }.map(\.element)), rest > 0 {
                    shape[hole] = total / rest
                }
            }
            out.shape = shape
        }
        out.elements = inputs[0].elements
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "data"), s = try required(inputs, 1, "shape")
        return [x.reshaped(try resolveReshape(x.shape, try intValues(s, "shape"), allowZero: allowZero))]
    }
}

struct FlattenKernel: Kernel {
    let axis: Int

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard let t = inputs.first, let s = t.shape else { return [ValueType(dataType: inputs.first?.dataType)] }
        let a = try normalizeAxis(axis, rank: s.count, allowRankEqual: true)
        return [ValueType(dataType: t.dataType, shape: [checkedProduct(s[..<a]), checkedProduct(s[a...])])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let a = try normalizeAxis(axis, rank: x.rank, allowRankEqual: true)
        return [x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])]
    }
}

struct SqueezeKernel: Kernel {
    let attributeAxes: [Int]?

    func axes(_ inputs: [Tensor?]) throws -> [Int]? {
        if let attributeAxes { return attributeAxes }
        if inputs.count > 1, let a = inputs[1] { return try intValues(a, "axes") }
        return nil
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: inputs.first?.dataType)
        out.elements = inputs.first?.elements
        if let s = inputs.first?.shape, let axes = attributeAxes ?? inputs[safe: 1]?.elements.flatMap({ $0.allSatisfy { $0 != nil } ? $0.map { $0! } : nil }) {
            let norm = try Set(axes.map { try normalizeAxis($0, rank: s.count) })
            out.shape = s.enumerated().filter { !norm.contains($0.offset) }.map(\.element)
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        guard let axes = try axes(inputs) else { return [x.reshaped(x.shape.filter { $0 != 1 })] }
        let norm = try Set(axes.map { try normalizeAxis($0, rank: x.rank) })
        for a in norm where x.shape[a] != 1 { throw ONNXError(.invalidInput, "cannot squeeze axis \(a) of shape \(x.shape)") }
        return [x.reshaped(x.shape.enumerated().filter { !norm.contains($0.offset) }.map(\.element))]
    }
}

struct UnsqueezeKernel: Kernel {
    let attributeAxes: [Int]?

    static func expand<D>(_ shape: [D], axes: [Int], one: D) throws -> [D] {
        let rank = shape.count + axes.count
        let norm = try Set(axes.map { try normalizeAxis($0, rank: rank) })
        guard norm.count == axes.count else { throw ONNXError(.invalidInput, "axes \(axes) repeat") }
        var out: [D] = []
        var it = shape.makeIterator()
        for i in 0..<rank { out.append(norm.contains(i) ? one : it.next()!) }
        return out
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var out = ValueType(dataType: inputs.first?.dataType)
        out.elements = inputs.first?.elements
        if let s = inputs.first?.shape, let axes = attributeAxes ?? inputs[safe: 1]?.elements.flatMap({ $0.allSatisfy { $0 != nil } ? $0.map { $0! } : nil }) {
            out.shape = try Self.expand(s, axes: axes, one: 1)
        }
        return [out]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let axes = try attributeAxes ?? intValues(required(inputs, 1, "axes"), "axes")
        return [x.reshaped(try Self.expand(x.shape, axes: axes, one: 1))]
    }
}

struct ShapeKernel: Kernel {
    let start: Int
    let end: Int?

    func range(rank: Int) -> Range<Int> {
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let s = clamp(start), e = clamp(end ?? rank)
        return s..<max(s, e)
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard let s = inputs.first?.shape else { return [ValueType(dataType: .int64, shape: [nil])] }
        let r = range(rank: s.count)
        return [ValueType(dataType: .int64, shape: [r.count], elements: Array(s[r]))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let dims = x.shape[range(rank: x.rank)].map { Int64($0) }
        return [Tensor(shape: [dims.count], values: dims)]
    }
}

struct SizeKernel: Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let n = inputs.first?.shape.flatMap { checkedProduct($0) }
        return [ValueType(dataType: .int64, shape: [], elements: [n])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        [Tensor(shape: [], values: [Int64(try required(inputs, 0).count)])]
    }
}
