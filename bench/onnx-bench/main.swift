// onnx-bench: throughput of the ONNX runtime.
//
// Usage:
//   onnx-bench model <path/to/model.onnx> [--batch 1,8,64] [--iterations 200] [--threads 1] [--warmup 20]
//   onnx-bench gemm <M>x<K>x<N> [<M>x<K>x<N> ...] [--iterations 200] [--threads 1]
//   --dim N       value for dynamic dimensions after the first (e.g. sequence length; default 1)
//   --cpu-clock   time with the process CPU clock instead of the wall clock (steadier on a busy
//                 machine; only meaningful with --threads 1)
//
// Output: one JSON object per line on stdout.
//   model mode: {"model":"mlp","batch":8,"threads":1,"ms_per_batch":0.0412,"rows_per_s":194174.8}
//     `model` is <name> for models/<name>/<version>/model.onnx or <name>/model.onnx, else the file name;
//     dynamic dimensions other than the first (batch) are set to 1; inputs are uniform random in [0, 1)
//     (integers are 0).
//   gemm mode:  {"gemm":"8x784x512","m":8,"k":784,"n":512,"threads":1,"ms":0.0081,"gflops":98.7}
//     C[M,N] = A[M,K]·B[K,N] run as a one-node MatMul model whose B is an initializer (packed at load),
//     so it measures exactly what a model layer gets. GFLOP/s counts 2·M·K·N per call.
#if canImport(Glibc)
import Glibc
#endif
import ONNXRuntime

nonisolated(unsafe) var clockID = CLOCK_MONOTONIC

func now() -> Double {
    var ts = timespec()
    clock_gettime(clockID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func fail(_ message: String) -> Never {
    let line = "onnx-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func emit(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

func format(_ v: Double, _ digits: Int = 4) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaListFormat(&buffer, "%.\(digits)f", v)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func withVaListFormat(_ buffer: inout [CChar], _ format: String, _ value: Double) -> Int32 {
    withVaList([value]) { args in vsnprintf(&buffer, buffer.count, format, args) }
}

/// Random-ish values without Foundation: a fixed-seed xorshift.
struct Noise {
    var state: UInt64 = 0x9E3779B97F4A7C15
    mutating func next() -> Float {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state >> 40) / Float(1 << 24)
    }
}

func makeInput(_ info: ValueInfo, batch: Int, dim: Int, noise: inout Noise) -> Tensor {
    let shape = info.shape.enumerated().map { i, d in d ?? (i == 0 ? batch : dim) }
    let count = shape.reduce(1, *)
    switch info.dataType {
    case .float32: return Tensor(shape: shape, values: (0..<count).map { _ in noise.next() })
    case .float64: return Tensor(shape: shape, values: (0..<count).map { _ in Double(noise.next()) })
    default: return Tensor(dataType: info.dataType, shape: shape)
    }
}

// MARK: - a minimal protobuf writer for the gemm model

struct ProtoWriter {
    var bytes: [UInt8] = []
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int) { tag(field, 0); varint(UInt64(bitPattern: Int64(v))) }
    mutating func bytes(_ field: Int, _ b: [UInt8]) { tag(field, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var sub = ProtoWriter()
        build(&sub)
        bytes(field, sub.bytes)
    }
}

func valueInfo(_ w: inout ProtoWriter, field: Int, name: String, dims: [Int?]) {
    w.message(field) { v in
        v.string(1, name)
        v.message(2) { t in
            t.message(1) { tt in
                tt.int(1, 1)
                tt.message(2) { s in
                    for d in dims { s.message(1) { dim in if let d { dim.int(1, d) } else { dim.string(2, "N") } } }
                }
            }
        }
    }
}

func matmulModel(k: Int, n: Int, noise: inout Noise) -> [UInt8] {
    var raw = [UInt8]()
    raw.reserveCapacity(k * n * 4)
    for _ in 0..<(k * n) { withUnsafeBytes(of: (noise.next() - 0.5).bitPattern.littleEndian) { raw += $0 } }
    var model = ProtoWriter()
    model.int(1, 8)
    model.message(8) { $0.string(1, ""); $0.int(2, 17) }
    model.message(7) { g in
        g.message(1) { node in node.string(1, "A"); node.string(1, "B"); node.string(2, "C"); node.string(3, "matmul"); node.string(4, "MatMul") }
        g.string(2, "gemm")
        g.message(5) { t in t.int(1, k); t.int(1, n); t.int(2, 1); t.string(8, "B"); t.bytes(9, raw) }
        valueInfo(&g, field: 11, name: "A", dims: [nil, k])
        valueInfo(&g, field: 12, name: "C", dims: [nil, n])
    }
    return model.bytes
}

// MARK: - main

var args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String, _ fallback: String) -> String {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}
let iterations = Int(option("--iterations", "200")) ?? 200
let threads = Int(option("--threads", "1")) ?? 1
let warmup = Int(option("--warmup", "20")) ?? 20
let dynamicDim = Int(option("--dim", "1")) ?? 1
if let i = args.firstIndex(of: "--cpu-clock") {
    args.remove(at: i)
    clockID = CLOCK_PROCESS_CPUTIME_ID
}
let batches = option("--batch", "1,8,64").split(separator: ",").compactMap { Int($0) }
guard let mode = args.first else { fail("usage: onnx-bench model <path> [--batch 1,8,64] [--iterations N] [--threads K] | gemm MxKxN ...") }
var noise = Noise()

do {
    switch mode {
    case "model":
        guard args.count >= 2 else { fail("model mode needs a path") }
        let path = args[1]
        let parts = path.split(separator: "/").map(String.init)
        var name = parts.last ?? path
        if name == "model.onnx" && parts.count >= 2 {
            // models/<name>/<version>/model.onnx, or <name>/model.onnx
            let parent = parts[parts.count - 2]
            name = parent.allSatisfy(\.isNumber) && parts.count >= 3 ? parts[parts.count - 3] : parent
        }
        let session = try InferenceSession(path: path, options: SessionOptions(computeThreads: threads))
        for batch in batches {
            var feeds: [String: Tensor] = [:]
            for input in session.inputs { feeds[input.name] = makeInput(input, batch: batch, dim: dynamicDim, noise: &noise) }
            for _ in 0..<warmup { _ = try session.run(feeds) }
            let start = now()
            for _ in 0..<iterations { _ = try session.run(feeds) }
            let ms = (now() - start) * 1000 / Double(iterations)
            emit("{\"model\":\"\(name)\",\"batch\":\(batch),\"threads\":\(threads),\"ms_per_batch\":\(format(ms)),\"rows_per_s\":\(format(Double(batch) * 1000 / ms, 1))}")
        }
    case "gemm":
        for spec in args.dropFirst() {
            let dims = spec.split(separator: "x").compactMap { Int($0) }
            guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { fail("bad size '\(spec)', expected MxKxN") }
            let (m, k, n) = (dims[0], dims[1], dims[2])
            let session = try InferenceSession(bytes: matmulModel(k: k, n: n, noise: &noise), baseDirectory: nil,
                                               options: SessionOptions(computeThreads: threads))
            let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { _ in noise.next() })
            for _ in 0..<warmup { _ = try session.run(["A": a]) }
            // Enough calls for ~0.5 s, at least `iterations`.
            let probe = now()
            _ = try session.run(["A": a])
            let once = max(now() - probe, 1e-7)
            let count = max(iterations, Int(0.5 / once))
            let start = now()
            for _ in 0..<count { _ = try session.run(["A": a]) }
            let seconds = (now() - start) / Double(count)
            let gflops = 2 * Double(m) * Double(k) * Double(n) / seconds / 1e9
            emit("{\"gemm\":\"\(spec)\",\"m\":\(m),\"k\":\(k),\"n\":\(n),\"threads\":\(threads),\"ms\":\(format(seconds * 1000)),\"gflops\":\(format(gflops, 1))}")
        }
    default:
        fail("unknown mode '\(mode)'")
    }
} catch {
    fail("\(error)")
}
