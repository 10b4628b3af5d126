/// MaxPool, AveragePool and the global pools (NCHW, 1-D or 2-D windows).
enum PoolingOps {
    static let kernels: [String: KernelFactory] = [
        "MaxPool": { ctx in try PoolKernel(ctx, max: true) },
        "AveragePool": { ctx in try PoolKernel(ctx, max: false) },
        "GlobalAveragePool": { _ in GlobalPoolKernel(max: false) },
        "GlobalMaxPool": { _ in GlobalPoolKernel(max: true) },
    ]
}

struct PoolKernel: Kernel {
    let geometry: WindowGeometry
    let isMax: Bool
    let countIncludePad: Bool

    init(_ ctx: KernelBuildContext, max: Bool) throws {
        isMax = max
        let kernel = try ctx.attributes.ints("kernel_shape")
        guard let kernel, kernel.count == 1 || kernel.count == 2 else {
            throw ONNXError(.unsupported, "kernel_shape must be given with 1 or 2 dimensions")
        }
        geometry = try WindowGeometry(ctx.attributes, kernel: kernel, spatialRank: kernel.count)
        countIncludePad = try ctx.attributes.int("count_include_pad", default: 0) != 0
        if ctx.outputCount > 1 { throw ONNXError(.unsupported, "the Indices output of MaxPool is not supported") }
        if try ctx.attributes.int("storage_order", default: 0) != 0 { throw ONNXError(.unsupported, "storage_order=1 is not supported") }
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard let t = inputs.first, let x = t.shape, x.count == geometry.kernel.count + 2 else { return [ValueType(dataType: inputs.first?.dataType)] }
        return [ValueType(dataType: t.dataType, shape: [x[0], x[1]] + geometry.inferSpatial(Array(x.dropFirst(2))))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        try checkType(x, [.float32], "X")
        let spatial = geometry.kernel.count
        guard x.rank == spatial + 2 else { throw ONNXError(.invalidInput, "X \(x.shape) must have rank \(spatial + 2)") }
        let g = spatial == 2 ? geometry : geometry.lifted()
        let inH = spatial == 2 ? x.shape[2] : 1, inW = x.shape[x.rank - 1]
        let (size, begin, end) = try g.resolve([inH, inW])
        let (outH, outW) = (size[0], size[1])
        let out = try context.allocate(.float32, [x.shape[0], x.shape[1]] + (spatial == 2 ? [outH, outW] : [outW]))
        let planes = x.shape[0] * x.shape[1]
        let window = PoolWindow(inH: inH, inW: inW, outH: outH, outW: outW, kernel: (g.kernel[0], g.kernel[1]),
                                strides: (g.strides[0], g.strides[1]), dilations: (g.dilations[0], g.dilations[1]),
                                begin: (begin[0], begin[1]), end: (end[0], end[1]))
        window.run(x.floats, out.floats, planes: planes, isMax: isMax, countIncludePad: countIncludePad)
        return [out]
    }
}

/// The loops of a 2-D pooling window; per output row and column the valid kernel taps are worked
/// out once, so the inner loops have no bounds tests.
private struct PoolWindow {
    let inH: Int, inW: Int, outH: Int, outW: Int
    let kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int), begin: (Int, Int), end: (Int, Int)

    /// First and last+1 kernel taps that land inside [0, size) for a window starting at `origin`.
    @inline(__always) static func taps(_ origin: Int, _ k: Int, _ d: Int, _ size: Int) -> (Int, Int) {
        let lo = origin < 0 ? (-origin + d - 1) / d : 0
        let hi = min(k, (size - origin + d - 1) / d)
        return (lo, max(lo, hi))
    }

    func run(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Int, isMax: Bool, countIncludePad: Bool) {
        let (kH, kW) = kernel, (sH, sW) = strides, (dH, dW) = dilations
        if isMax && kH == 2 && kW == 2 && sH == 2 && sW == 2 && dH == 1 && dW == 1 && begin == (0, 0) && 2 * outH <= inH && 2 * outW <= inW {
            for p in 0..<planes {
                let plane = src + p * inH * inW, o = dst + p * outH * outW
                for oh in 0..<outH {
                    let r0 = plane + 2 * oh * inW, r1 = r0 + inW, row = o + oh * outW
                    for ow in 0..<outW {
                        let a = max(r0[2 * ow], r0[2 * ow + 1]), b = max(r1[2 * ow], r1[2 * ow + 1])
                        row[ow] = max(a, b)
                    }
                }
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * outW) { cols in
            let c = cols.baseAddress!
            for ow in 0..<outW {
                let w0 = ow * sW - begin.1
                let (lo, hi) = Self.taps(w0, kW, dW, inW)
                c[3 * ow] = w0; c[3 * ow + 1] = lo; c[3 * ow + 2] = hi
            }
            for p in 0..<planes {
                let plane = src + p * inH * inW, o = dst + p * outH * outW
                for oh in 0..<outH {
                    let h0 = oh * sH - begin.0
                    let (khLo, khHi) = Self.taps(h0, kH, dH, inH)
                    for ow in 0..<outW {
                        let w0 = c[3 * ow], kwLo = c[3 * ow + 1], kwHi = c[3 * ow + 2]
                        if isMax {
                            var m = -Float.infinity
                            for kh in khLo..<khHi {
                                let row = plane + (h0 + kh * dH) * inW + w0
                                for kw in kwLo..<kwHi { let v = row[kw * dW]; m = v > m ? v : m }
                            }
                            o[oh * outW + ow] = m
                        } else {
                            var sum: Float = 0
                            for kh in khLo..<khHi {
                                let row = plane + (h0 + kh * dH) * inW + w0
                                for kw in kwLo..<kwHi { sum += row[kw * dW] }
                            }
                            let divisor: Int
                            if countIncludePad {
                                // Taps inside the padded input count; those past the padding (ceil_mode) do not.
                                let hs = max(h0, -begin.0), he = min(h0 + (kH - 1) * dH + 1, inH + end.0)
                                let ws = max(w0, -begin.1), we = min(w0 + (kW - 1) * dW + 1, inW + end.1)
                                divisor = ((he - hs + dH - 1) / dH) * ((we - ws + dW - 1) / dW)
                            } else {
                                divisor = (khHi - khLo) * (kwHi - kwLo)
                            }
                            o[oh * outW + ow] = divisor > 0 ? sum / Float(divisor) : 0
                        }
                    }
                }
            }
        }
    }
}

struct GlobalPoolKernel: Kernel {
    let max: Bool

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        guard let t = inputs.first, let x = t.shape, x.count >= 2 else { return [ValueType(dataType: inputs.first?.dataType)] }
        return [ValueType(dataType: t.dataType, shape: [x[0], x[1]] + Array(repeating: 1, count: x.count - 2))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        try checkType(x, [.float32], "X")
        guard x.rank >= 3 else { throw ONNXError(.invalidInput, "X \(x.shape) must have rank 3 or more") }
        let planes = x.shape[0] * x.shape[1], size = x.shape[2...].reduce(1, *)
        let out = try context.allocate(.float32, [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.rank - 2))
        let src = x.floats, dst = out.floats
        for p in 0..<planes {
            let s = src + p * size
            if max {
                var m = -Float.infinity
                for i in 0..<size { m = Swift.max(m, s[i]) }
                dst[p] = m
            } else {
                var sum: Float = 0
                for i in 0..<size { sum += s[i] }
                dst[p] = size > 0 ? sum / Float(size) : 0
            }
        }
        return [out]
    }
}
