/// LayerNormalization and BatchNormalization (inference form).
enum NormalizationOps {
    static let kernels: [String: KernelFactory] = [
        "LayerNormalization": { ctx in
            LayerNormKernel(axis: try ctx.attributes.int("axis", default: -1), epsilon: try ctx.attributes.float("epsilon", default: 1e-5))
        },
        "BatchNormalization": { ctx in
            if try ctx.attributes.int("training_mode", default: 0) != 0 || ctx.outputCount > 1 {
                throw ONNXError(.unsupported, "training mode (running statistics outputs) is not supported")
            }
            return BatchNormKernel(epsilon: try ctx.attributes.float("epsilon", default: 1e-5))
        },
    ]
}

struct LayerNormKernel: Kernel {
    let axis: Int
    let epsilon: Float

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        var result = [ValueType(dataType: inputs.first?.dataType, shape: inputs.first?.shape)]
        if outputCount > 1, let s = inputs.first?.shape {
            let a = try normalizeAxis(axis, rank: s.count)
            let stat = ValueType(dataType: .float32, shape: s.enumerated().map { $0.offset >= a ? 1 : $0.element })
            result += Array(repeating: stat, count: outputCount - 1)
        }
        return result
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), scale = try required(inputs, 1, "Scale")
        let bias = inputs.count > 2 ? inputs[2] : nil
        try checkType(x, [.float32], "X")
        let a = try normalizeAxis(axis, rank: x.rank)
        let rows = x.shape[..<a].reduce(1, *), size = x.shape[a...].reduce(1, *)
        let normShape = Array(x.shape[a...])
        func expandParam(_ t: Tensor, _ name: String) throws -> Tensor {
            try checkType(t, [.float32], name)
            if t.shape == normShape || t.count == size { return t }
            let plan = try Broadcast([t.shape], to: normShape)
            let e = try context.allocate(.float32, normShape)
            broadcastCopy(t.floats, e.floats, plan)
            return e
        }
        let g = try expandParam(scale, "Scale"), b = try bias.map { try expandParam($0, "B") }
        let out = try context.allocate(.float32, x.shape)
        let statShape = x.shape.enumerated().map { $0.offset >= a ? 1 : $0.element }
        let meanOut = try context.allocate(.float32, statShape), invOut = try context.allocate(.float32, statShape)
        let px = x.floats, po = out.floats, pg = g.floats, pb = b?.floats
        for r in 0..<rows {
            let row = px + r * size, o = po + r * size
            var sum: Float = 0
            for i in 0..<size { sum += row[i] }
            let mean = sum / Float(size)
            var sq: Float = 0
            for i in 0..<size { let d = row[i] - mean; sq += d * d }
            let inv = 1 / (sq / Float(size) + epsilon).squareRoot()
            if let pb {
                for i in 0..<size { o[i] = (row[i] - mean) * inv * pg[i] + pb[i] }
            } else {
                for i in 0..<size { o[i] = (row[i] - mean) * inv * pg[i] }
            }
            meanOut.floats[r] = mean
            invOut.floats[r] = inv
        }
        return [out, meanOut, invOut]
    }
}

struct BatchNormKernel: Kernel {
    let epsilon: Float

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: inputs.first?.dataType, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let scale = try required(inputs, 1, "scale"), bias = try required(inputs, 2, "B")
        let mean = try required(inputs, 3, "input_mean"), variance = try required(inputs, 4, "input_var")
        try checkType(x, [.float32], "X")
        guard x.rank >= 2 else { throw ONNXError(.invalidInput, "X \(x.shape) must have a channel dimension") }
        let c = x.shape[1]
        for (t, name) in [(scale, "scale"), (bias, "B"), (mean, "input_mean"), (variance, "input_var")] {
            guard t.dataType == .float32, t.count == c else { throw ONNXError(.invalidInput, "\(name) must have \(c) FP32 values, got \(t.shape)") }
        }
        let out = try context.allocate(.float32, x.shape)
        let n = x.shape[0], spatial = x.shape[2...].reduce(1, *)
        let px = x.floats, po = out.floats
        for ch in 0..<c {
            let k = scale.floats[ch] / (variance.floats[ch] + epsilon).squareRoot()
            let shift = bias.floats[ch] - mean.floats[ch] * k
            for image in 0..<n {
                let base = (image * c + ch) * spatial
                for i in 0..<spatial { po[base + i] = px[base + i] * k + shift }
            }
        }
        return [out]
    }
}
