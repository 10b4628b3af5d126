#if canImport(Glibc)
import Glibc
#endif

/// Convolution: im2col (written directly as packed GEMM panels) + the packed GEMM, with the weights
/// packed once at load.
enum ConvOps {
    static let kernels: [String: KernelFactory] = [
        "Conv": { ctx in try ConvKernel(ctx) },
    ]
}

/// Window geometry shared by Conv and the pooling ops (2-D; 1-D inputs use height 1).
struct WindowGeometry: Sendable {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    /// Explicit pads as [begin..., end...]; nil when auto_pad decides at run time.
    var pads: [Int]?
    var autoPad: String
    var ceilMode: Bool

    init(_ attributes: Attributes, kernel: [Int]?, spatialRank: Int) throws {
        guard let kernel, kernel.count == spatialRank, kernel.allSatisfy({ $0 > 0 }) else {
            throw ONNXError(.invalidGraph, "kernel_shape must have \(spatialRank) positive values")
        }
        self.kernel = kernel
        strides = try attributes.ints("strides") ?? Array(repeating: 1, count: spatialRank)
        dilations = try attributes.ints("dilations") ?? Array(repeating: 1, count: spatialRank)
        autoPad = try attributes.string("auto_pad", default: "NOTSET")
        ceilMode = try attributes.int("ceil_mode", default: 0) != 0
        let explicit = try attributes.ints("pads")
        switch autoPad {
        case "NOTSET": pads = explicit ?? Array(repeating: 0, count: 2 * spatialRank)
        case "VALID": pads = Array(repeating: 0, count: 2 * spatialRank)
        case "SAME_UPPER", "SAME_LOWER": pads = nil
        default: throw ONNXError(.invalidGraph, "auto_pad '\(autoPad)' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        guard strides.count == spatialRank, dilations.count == spatialRank, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw ONNXError(.invalidGraph, "strides and dilations must have \(spatialRank) positive values")
        }
        if let pads, pads.count != 2 * spatialRank || pads.contains(where: { $0 < 0 }) {
            throw ONNXError(.invalidGraph, "pads must have \(2 * spatialRank) non-negative values, got \(pads)")
        }
        let limit = 1 << 20
        guard (kernel + strides + dilations + (pads ?? [])).allSatisfy({ $0 <= limit }) else {
            throw ONNXError(.invalidGraph, "kernel_shape, strides, dilations and pads must be at most \(limit)")
        }
    }

    /// Output sizes and the begin/end pads for input spatial sizes `input`.
    func resolve(_ input: [Int]) throws -> (output: [Int], padBegin: [Int], padEnd: [Int]) {
        let r = input.count
        var output = [Int](), begin = [Int](), end = [Int]()
        for i in 0..<r {
            let span = dilations[i] * (kernel[i] - 1) + 1
            if let pads {
                let padded = input[i] + pads[i] + pads[i + r]
                guard padded >= span else { throw ONNXError(.invalidInput, "input size \(input[i]) is smaller than the window \(span)") }
                var o = ceilMode ? (padded - span + strides[i] - 1) / strides[i] + 1 : (padded - span) / strides[i] + 1
                // A window must start inside the input or the leading padding.
                if ceilMode && (o - 1) * strides[i] >= input[i] + pads[i] { o -= 1 }
                output.append(o)
                begin.append(pads[i])
                end.append(pads[i + r])
            } else {
                let o = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (o - 1) * strides[i] + span - input[i])
                let b = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                output.append(o)
                begin.append(b)
                end.append(total - b)
            }
        }
        return (output, begin, end)
    }

    func inferSpatial(_ input: [Int?]) -> [Int?] {
        guard input.allSatisfy({ $0 != nil }), let r = try? resolve(input.map { $0! }) else { return input.map { _ in nil } }
        return r.output
    }
}

struct ConvKernel: Kernel {
    /// Known at load unless the kernel size comes only from a weight input of unknown shape.
    let fixedGeometry: WindowGeometry?
    let attributes: Attributes
    let group: Int
    /// Weights per group as M/group × (C/group·kH·kW) matrices, packed at load when constant.
    let packedWeights: [PackedA]?

    init(_ ctx: KernelBuildContext) throws {
        let a = ctx.attributes
        group = try a.int("group", default: 1)
        guard group >= 1 else { throw ONNXError(.invalidGraph, "group must be positive") }
        let weightShape = ctx.constant(1)?.shape ?? ctx.inputTypes[safe: 1]?.staticShape
        attributes = a
        let kernelShape = try a.ints("kernel_shape") ?? weightShape.map { Array($0.dropFirst(2)) }
        if let kernelShape {
            guard kernelShape.count == 1 || kernelShape.count == 2 else {
                throw ONNXError(.unsupported, "only 1-D and 2-D convolutions are supported, got \(kernelShape.count)-D")
            }
            fixedGeometry = try WindowGeometry(a, kernel: kernelShape, spatialRank: kernelShape.count)
        } else {
            fixedGeometry = nil
        }
        let spatialRank = kernelShape?.count ?? 2
        if let w = ctx.constant(1), w.dataType == .float32 {
            guard w.rank == spatialRank + 2, w.shape[0] % group == 0 else {
                throw ONNXError(.invalidGraph, "weight shape \(w.shape) does not fit group \(group)")
            }
            let mg = w.shape[0] / group, colK = w.shape[1...].reduce(1, *)
            packedWeights = (0..<group).map { g in
                PackedA(MatrixView.rowMajor(w.floats + g * mg * colK, cols: colK), m: mg, k: colK)
            }
        } else {
            packedWeights = nil
        }
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let type = try commonType(Array(inputs.prefix(2)), "Conv")
        guard let geometry = fixedGeometry, let x = inputs.first?.shape, x.count >= 3, let w = inputs[safe: 1]?.shape, w.count == x.count else {
            return [ValueType(dataType: type)]
        }
        return [ValueType(dataType: type, shape: [x[0], w[0]] + geometry.inferSpatial(Array(x.dropFirst(2))))]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let bias = inputs.count > 2 ? inputs[2] : nil
        try checkType(x, [.float32], "X")
        try checkType(w, [.float32], "W")
        guard w.rank == 3 || w.rank == 4 else { throw ONNXError(.unsupported, "only 1-D and 2-D convolutions are supported, W is \(w.shape)") }
        let geometry = try fixedGeometry ?? WindowGeometry(attributes, kernel: Array(w.shape.dropFirst(2)), spatialRank: w.rank - 2)
        let spatial = geometry.kernel.count
        guard x.rank == spatial + 2, w.rank == spatial + 2 else {
            throw ONNXError(.invalidInput, "X \(x.shape) and W \(w.shape) must both have rank \(spatial + 2)")
        }
        let (n, c) = (x.shape[0], x.shape[1])
        let m = w.shape[0]
        guard c % group == 0, m % group == 0, w.shape[1] == c / group else {
            throw ONNXError(.invalidInput, "W \(w.shape) does not match X \(x.shape) with group \(group)")
        }
        guard Array(w.shape.dropFirst(2)) == geometry.kernel else {
            throw ONNXError(.invalidInput, "W \(w.shape) does not match kernel_shape \(geometry.kernel)")
        }
        if let bias { guard bias.dataType == .float32, bias.count == m else { throw ONNXError(.invalidInput, "B must have \(m) FP32 values, got \(bias.shape)") } }

        // Treat 1-D as 2-D with height 1.
        let inH = spatial == 2 ? x.shape[2] : 1, inW = x.shape[x.rank - 1]
        let g2 = spatial == 2 ? geometry : geometry.lifted()
        let (outSize, padBegin, padEnd) = try g2.resolve([inH, inW])
        let (outH, outW) = (outSize[0], outSize[1])
        let (kH, kW) = (g2.kernel[0], g2.kernel[1])
        let out = try context.allocate(.float32, [n, m] + (spatial == 2 ? [outH, outW] : [outW]))
        let cg = c / group, mg = m / group
        let pointwise = kH == 1 && kW == 1 && g2.strides == [1, 1] && padBegin == [0, 0] && outH == inH && outW == inW
        let job = ConvJob(x: SendablePointer(x.floats), w: SendablePointer(w.floats), bias: bias.map { SendablePointer($0.floats) },
                          out: SendablePointer(out.floats), packed: packedWeights, c: c, inH: inH, inW: inW, m: m, group: group,
                          cg: cg, mg: mg, kH: kH, kW: kW, outH: outH, outW: outW,
                          strides: (g2.strides[0], g2.strides[1]), dilations: (g2.dilations[0], g2.dilations[1]),
                          pads: (padBegin[0], padBegin[1]), padEnd: (padEnd[0], padEnd[1]), pointwise: pointwise)
        let scratch = pointwise ? 0 : job.scratchFloats
        if context.threadCount > 1 && n > 1 {
            // Whole images per thread; each owns its scratch buffer.
            context.parallelFor(n) { image in
                let buffer = scratch > 0 ? UnsafeMutablePointer<Float>.allocate(capacity: scratch) : nil
                defer { buffer?.deallocate() }
                job.run(image: image, scratch: buffer, context: nil)
            }
        } else {
            let buffer = scratch > 0 ? UnsafeMutablePointer<Float>.allocate(capacity: scratch) : nil
            defer { buffer?.deallocate() }
            for image in 0..<n { job.run(image: image, scratch: buffer, context: context) }
        }
        return [out]
    }
}

/// One Conv call's pointers and geometry, shared by the image loop and pool workers.
private struct ConvJob: Sendable {
    let x: SendablePointer<Float>, w: SendablePointer<Float>, bias: SendablePointer<Float>?, out: SendablePointer<Float>
    let packed: [PackedA]?
    let c: Int, inH: Int, inW: Int, m: Int, group: Int, cg: Int, mg: Int, kH: Int, kW: Int, outH: Int, outW: Int
    let strides: (Int, Int), dilations: (Int, Int), pads: (Int, Int), padEnd: (Int, Int)
    let pointwise: Bool

    var padded: Bool { pads != (0, 0) || padEnd != (0, 0) }
    var paddedH: Int { inH + pads.0 + padEnd.0 }
    var paddedW: Int { inW + pads.1 + padEnd.1 }
    /// Packed column panels, then (when padding) a zero-padded copy of the group's input planes, then
    /// one unpacked column row.
    var scratchFloats: Int { Gemm.roundUp(outH * outW, Gemm.nr) * (cg * kH * kW + 1) + (padded ? cg * paddedH * paddedW : 0) }

    func run(image: Int, scratch: UnsafeMutablePointer<Float>?, context: RunContext?) {
        let pixels = outH * outW, colK = cg * kH * kW
        for g in 0..<group {
            let input = x.pointer + (image * c + g * cg) * inH * inW
            let output = out.pointer + (image * m + g * mg) * pixels
            let b: GemmB
            if pointwise {
                b = .view(MatrixView(input, rowStride: inH * inW))
            } else {
                let panels = scratch!
                packColumns(input, into: panels, padBuffer: panels + Gemm.roundUp(pixels, Gemm.nr) * colK)
                b = .prepacked(UnsafePointer(panels))
            }
            if let bias {
                for r in 0..<mg { (output + r * pixels).update(repeating: bias.pointer[g * mg + r], count: pixels) }
            }
            let a: GemmA = packed.map { .packed($0[g]) } ?? .view(MatrixView(w.pointer + g * mg * colK, rowStride: colK))
            Gemm.multiply(m: mg, n: pixels, k: colK, a: a, b: b, c: output, ldc: pixels, accumulate: bias != nil, context: context)
        }
    }

    /// im2col written straight into the GEMM's packed-B layout (rows (channel, kh, kw), columns output
    /// pixels in panels of `nr`), reading from a zero-padded copy so no tap needs a bounds test.
    private func packColumns(_ input: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, padBuffer: UnsafeMutablePointer<Float>) {
        let pixels = outH * outW, colK = cg * kH * kW, nr = Gemm.nr
        let paddedN = Gemm.roundUp(pixels, nr)
        let (ph, pw) = (paddedH, paddedW)
        var source = input
        if padded {
            padBuffer.update(repeating: 0, count: cg * ph * pw)
            for ch in 0..<cg {
                for r in 0..<inH {
                    let s = input + (ch * inH + r) * inW, d = padBuffer + (ch * ph + r + pads.0) * pw + pads.1
                    for i in 0..<inW { d[i] = s[i] }
                }
            }
            source = UnsafePointer(padBuffer)
        }
        let kc = Gemm.blockK(colK)
        let panels = paddedN / nr
        let (sH, sW) = strides
        // One im2col row at a time: gather it contiguously (long copies of output rows), then move
        // it into its place in each 16-column panel with two vector stores per panel.
        let line = padBuffer + (padded ? cg * ph * pw : 0)
        for i in pixels..<paddedN { line[i] = 0 }
        var kk = 0
        for ch in 0..<cg {
            for kh in 0..<kH {
                for kw in 0..<kW {
                    let plane = source + ch * ph * pw + kh * dilations.0 * pw + kw * dilations.1
                    for oh in 0..<outH {
                        let src = plane + oh * sH * pw, d = line + oh * outW
                        if sW == 1 { for ow in 0..<outW { d[ow] = src[ow] } } else { for ow in 0..<outW { d[ow] = src[ow &* sW] } }
                    }
                    let pc = kk / kc * kc, kcb = min(kc, colK - pc)
                    let base = UnsafeMutableRawPointer(dst + pc * paddedN + (kk - pc) * nr)
                    let from = UnsafeRawPointer(line)
                    for jp in 0..<panels {
                        let to = base + jp * kcb * nr * 4, at = jp * nr * 4
                        to.storeBytes(of: from.loadUnaligned(fromByteOffset: at, as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                        to.storeBytes(of: from.loadUnaligned(fromByteOffset: at + 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
                    }
                    kk += 1
                }
            }
        }
    }
}

extension WindowGeometry {
    /// The 2-D geometry equivalent to a 1-D one (height 1).
    func lifted() -> WindowGeometry {
        var g = self
        g.kernel = [1] + kernel
        g.strides = [1] + strides
        g.dilations = [1] + dilations
        g.pads = pads.map { [0, $0[0], 0, $0[1]] }
        return g
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { index >= 0 && index < count ? self[index] : nil }
}
