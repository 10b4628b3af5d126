#if canImport(Glibc)
import Glibc
#endif

/// The `ai.onnx.ml` operators that scikit-learn linear models export to (via skl2onnx).
enum MLOps {
    static let kernels: [String: KernelFactory] = [
        "LinearClassifier": { ctx in try LinearClassifierKernel(ctx) },
        "LinearRegressor": { ctx in try LinearRegressorKernel(ctx) },
        "Normalizer": { ctx in try NormalizerKernel(ctx) },
        "Scaler": { ctx in try ScalerKernel(ctx) },
        "ArrayFeatureExtractor": { _ in ArrayFeatureExtractorKernel() },
        "ZipMap": { _ in
            throw ONNXError(.unsupported, "ZipMap outputs a sequence of maps, which is not supported; convert the model with zipmap=False")
        },
    ]
}

enum PostTransform: String {
    case none = "NONE", logistic = "LOGISTIC", softmax = "SOFTMAX", softmaxZero = "SOFTMAX_ZERO", probit = "PROBIT"

    init(_ ctx: KernelBuildContext) throws {
        let name = try ctx.attributes.string("post_transform", default: "NONE")
        guard let t = PostTransform(rawValue: name), t != .probit else {
            throw ONNXError(.unsupported, "post_transform '\(name)' is not supported")
        }
        self = t
    }

    @inline(__always) static func logistic(_ v: Float) -> Float {
        let e = 1 / (1 + expf(-abs(v)))
        return v < 0 ? 1 - e : e
    }

    /// Transforms one row of scores in place.
    func apply(_ row: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .none, .probit: break
        case .logistic: for i in 0..<n { row[i] = Self.logistic(row[i]) }
        case .softmax, .softmaxZero:
            var m = -Float.greatestFiniteMagnitude
            for i in 0..<n { m = max(m, row[i]) }
            var sum: Float = 0
            for i in 0..<n {
                // SOFTMAX_ZERO leaves exact zeros out of the distribution.
                if self == .softmaxZero && abs(row[i]) <= 1e-7 { row[i] *= expf(-m) } else { row[i] = expf(row[i] - m); sum += row[i] }
            }
            for i in 0..<n { row[i] /= sum }
        }
    }
}

/// Rows × features as FP32, converting other numeric inputs.
private func featureMatrix(_ x: Tensor, _ context: RunContext) throws -> (Tensor, rows: Int, features: Int) {
    guard x.rank == 1 || x.rank == 2 else { throw ONNXError(.invalidInput, "X must be 1-D or 2-D, got \(x.shape)") }
    let f = x.dataType == .float32 ? x : try CastKernel.convert(x, to: .float32, context)
    return x.rank == 1 ? (f, 1, x.shape[0]) : (f, x.shape[0], x.shape[1])
}

/// Scores = X · coefficientsᵀ + intercepts, through the packed GEMM.
private struct LinearScores: Sendable {
    let targets: Int
    let features: Int
    let weights: PackedB
    let intercepts: [Float]

    init(coefficients: [Float], intercepts: [Float], targets: Int) throws {
        guard targets > 0, coefficients.count % targets == 0, !coefficients.isEmpty else {
            throw ONNXError(.invalidGraph, "\(coefficients.count) coefficients do not divide into \(targets) targets")
        }
        guard intercepts.isEmpty || intercepts.count == targets else {
            throw ONNXError(.invalidGraph, "\(intercepts.count) intercepts for \(targets) targets")
        }
        self.targets = targets
        let features = coefficients.count / targets
        self.features = features
        self.intercepts = intercepts.isEmpty ? Array(repeating: 0, count: targets) : intercepts
        weights = coefficients.withUnsafeBufferPointer { buf in
            PackedB(MatrixView.rowMajor(buf.baseAddress!, cols: features, transposed: true), k: features, n: targets)
        }
    }

    func compute(_ x: Tensor, rows: Int, into out: UnsafeMutablePointer<Float>, ldc: Int, _ context: RunContext) throws {
        guard x.count == rows * features else { throw ONNXError(.invalidInput, "X has \(x.count / max(rows, 1)) features, the model expects \(features)") }
        for r in 0..<rows { for t in 0..<targets { out[r * ldc + t] = intercepts[t] } }
        Gemm.multiply(m: rows, n: targets, k: features, a: .view(MatrixView.rowMajor(x.floats, cols: features)), b: .packed(weights),
                      c: out, ldc: ldc, accumulate: true, context: context)
    }
}

struct LinearClassifierKernel: Kernel {
    private let scores: LinearScores
    let labels: [Int64]
    let transform: PostTransform

    init(_ ctx: KernelBuildContext) throws {
        let a = ctx.attributes
        if try a.strings("classlabels_strings") != nil {
            throw ONNXError(.unsupported, "string class labels are not supported; use integer labels")
        }
        guard let coefficients = try a.floats("coefficients") else { throw ONNXError(.invalidGraph, "coefficients are missing") }
        let intercepts = try a.floats("intercepts") ?? []
        let classes = intercepts.isEmpty ? 1 : intercepts.count
        labels = a.values["classlabels_ints"]?.ints ?? (0..<Int64(classes)).map { $0 }
        if classes == 1 {
            guard labels.count == 2 else { throw ONNXError(.invalidGraph, "a binary classifier needs exactly 2 class labels, got \(labels.count)") }
        } else {
            guard labels.count == classes else { throw ONNXError(.invalidGraph, "\(labels.count) class labels for \(classes) classes") }
        }
        scores = try LinearScores(coefficients: coefficients, intercepts: intercepts, targets: classes)
        transform = try PostTransform(ctx)
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let rows: Int?? = inputs.first?.shape.map { $0.count == 1 ? 1 : $0.first ?? nil }
        let n = rows ?? nil
        return [ValueType(dataType: .int64, shape: [n]), ValueType(dataType: .float32, shape: [n, scores.targets == 1 ? 2 : scores.targets])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let (x, rows, _) = try featureMatrix(try required(inputs, 0), context)
        let classes = scores.targets
        let width = classes == 1 ? 2 : classes
        let z = try context.allocate(.float32, [rows, width])
        let y = try context.allocate(.int64, [rows])
        let pz = z.floats, py = y.pointer(Int64.self)
        if classes == 1 {
            // One score column: label by its sign, probabilities [1 - p, p].
            try scores.compute(x, rows: rows, into: pz + 1, ldc: 2, context)
            for r in 0..<rows {
                let s = pz[r * 2 + 1]
                py[r] = s > 0 ? labels[1] : labels[0]
                let p = transform == .logistic ? PostTransform.logistic(s) : s
                pz[r * 2] = 1 - p
                pz[r * 2 + 1] = p
            }
        } else {
            try scores.compute(x, rows: rows, into: pz, ldc: classes, context)
            for r in 0..<rows {
                let row = pz + r * classes
                var best = 0
                for j in 1..<classes where row[j] > row[best] { best = j }
                py[r] = labels[best]
                transform.apply(row, classes)
            }
        }
        return [y, z]
    }
}

struct LinearRegressorKernel: Kernel {
    private let scores: LinearScores
    let transform: PostTransform

    init(_ ctx: KernelBuildContext) throws {
        guard let coefficients = try ctx.attributes.floats("coefficients") else { throw ONNXError(.invalidGraph, "coefficients are missing") }
        let targets = try ctx.attributes.int("targets", default: 1)
        scores = try LinearScores(coefficients: coefficients, intercepts: try ctx.attributes.floats("intercepts") ?? [], targets: targets)
        transform = try PostTransform(ctx)
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        let n: Int? = inputs.first?.shape.flatMap { $0.count == 1 ? 1 : $0.first ?? nil }
        return [ValueType(dataType: .float32, shape: [n, scores.targets])]
    }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let (x, rows, _) = try featureMatrix(try required(inputs, 0), context)
        let out = try context.allocate(.float32, [rows, scores.targets])
        try scores.compute(x, rows: rows, into: out.floats, ldc: scores.targets, context)
        if transform != .none { for r in 0..<rows { transform.apply(out.floats + r * scores.targets, scores.targets) } }
        return [out]
    }
}

struct NormalizerKernel: Kernel {
    enum Norm: String { case max = "MAX", l1 = "L1", l2 = "L2" }
    let norm: Norm

    init(_ ctx: KernelBuildContext) throws {
        let name = try ctx.attributes.string("norm", default: "MAX")
        guard let n = Norm(rawValue: name) else { throw ONNXError(.invalidGraph, "norm '\(name)' is not MAX, L1 or L2") }
        norm = n
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: .float32, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let (f, rows, cols) = try featureMatrix(x, context)
        let out = try context.allocate(.float32, x.shape)
        let src = f.floats, dst = out.floats
        for r in 0..<rows {
            let row = src + r * cols, o = dst + r * cols
            var d: Float = 0
            switch norm {
            case .max:
                d = -Float.greatestFiniteMagnitude
                for i in 0..<cols { d = max(d, row[i]) }
            case .l1: for i in 0..<cols { d += abs(row[i]) }
            case .l2:
                for i in 0..<cols { d += row[i] * row[i] }
                d = d.squareRoot()
            }
            if d == 0 || cols == 0 { for i in 0..<cols { o[i] = row[i] } } else { for i in 0..<cols { o[i] = row[i] / d } }
        }
        return [out]
    }
}

struct ScalerKernel: Kernel {
    let offset: [Float]
    let scale: [Float]

    init(_ ctx: KernelBuildContext) throws {
        offset = try ctx.attributes.floats("offset") ?? [0]
        scale = try ctx.attributes.floats("scale") ?? [1]
    }

    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] { [ValueType(dataType: .float32, shape: inputs.first?.shape)] }

    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0)
        let (f, rows, cols) = try featureMatrix(x, context)
        guard (offset.count == 1 || offset.count == cols), (scale.count == 1 || scale.count == cols) else {
            throw ONNXError(.invalidInput, "offset/scale have \(offset.count)/\(scale.count) values for \(cols) features")
        }
        let out = try context.allocate(.float32, x.shape)
        let src = f.floats, dst = out.floats
        for r in 0..<rows {
            for c in 0..<cols {
                dst[r * cols + c] = (src[r * cols + c] - offset[offset.count == 1 ? 0 : c]) * scale[scale.count == 1 ? 0 : c]
            }
        }
        return [out]
    }
}

struct ArrayFeatureExtractorKernel: Kernel {
    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), y = try required(inputs, 1, "Y")
        guard x.rank >= 1 else { throw ONNXError(.invalidInput, "X must have at least one dimension") }
        let last = x.shape[x.rank - 1]
        let idx = try indexValues(y, limit: last, "Y")
        guard !idx.isEmpty else { throw ONNXError(.invalidInput, "Y holds no indices") }
        let shape = x.rank == 1 ? [1, idx.count] : Array(x.shape.dropLast()) + [idx.count]
        let out = try context.allocate(x.dataType, shape)
        let width = x.dataType.byteWidth, rows = x.count / max(last, 1)
        for r in 0..<rows {
            for (j, i) in idx.enumerated() {
                (out.storage.pointer + (r * idx.count + j) * width).copyMemory(from: x.storage.pointer + (r * last + i) * width, byteCount: width)
            }
        }
        return [out]
    }
}
