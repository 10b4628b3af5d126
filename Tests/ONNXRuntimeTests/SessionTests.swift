import Foundation
import Synchronization
import Testing
@testable import ONNXRuntime

@Suite struct SessionTests {
    /// x → Relu → Neg → … (20 ops) over 1 MiB tensors.
    static func chain(length: Int, width: Int64) -> [UInt8] {
        var b = ModelBuilder()
        var previous = "x"
        for i in 0..<length {
            let name = i == length - 1 ? "y" : "t\(i)"
            b.nodes.append(NodeSpec(op: i % 2 == 0 ? "Relu" : "Neg", inputs: [previous], outputs: [name], name: "op\(i)"))
            previous = name
        }
        b.inputs = [("x", 1, [nil, width])]
        b.outputs = [("y", 1, [nil, width])]
        return b.build()
    }

    @Test func buffersAreReusedAcrossALongChain() throws {
        let session = try InferenceSession(bytes: Self.chain(length: 20, width: 1024), baseDirectory: nil)
        let x = Tensor(shape: [256, 1024], values: (0..<(256 * 1024)).map { Float($0 % 7) - 3 })
        var fresh = 0
        let y = try session.plan.run(["x": x], freshBytes: &fresh)["y"]!
        // Peak live set is two tensors (input of a step and its output); 20 tensors would be 20 MiB.
        #expect(fresh <= 3 * 1024 * 1024, "allocated \(fresh) bytes")
        // Relu then Neg zeroes everything from the third op on.
        #expect(y.shape == [256, 1024])
        #expect(y.values(as: Float.self).allSatisfy { $0 == 0 })
        // A second run reuses the first run's buffers.
        _ = try session.plan.run(["x": x], freshBytes: &fresh)
        #expect(fresh <= 1024 * 1024 + 4096, "second run allocated \(fresh) bytes")
    }

    @Test func concurrentRunsGiveTheSameAnswers() throws {
        var b = ModelBuilder()
        let w = GemmTests.values(64 * 32, seed: 9)
        b.initializers = [TensorSpec(name: "w", dims: [64, 32], floats: w), TensorSpec(name: "bias", dims: [32], floats: GemmTests.values(32, seed: 10))]
        b.nodes = [
            NodeSpec(op: "Gemm", inputs: ["x", "w", "bias"], outputs: ["h"], name: "fc"),
            NodeSpec(op: "Relu", inputs: ["h"], outputs: ["r"], name: "act"),
            NodeSpec(op: "Softmax", inputs: ["r"], outputs: ["y"], name: "softmax", attributes: [.int("axis", 1)]),
        ]
        b.inputs = [("x", 1, [nil, 64])]
        b.outputs = [("y", 1, [nil, 32])]
        let session = try InferenceSession(bytes: b.build(), baseDirectory: nil, options: SessionOptions(computeThreads: 2))
        let inputs = (0..<8).map { i in Tensor(shape: [i + 1, 64], values: GemmTests.values((i + 1) * 64, seed: UInt64(i + 20))) }
        let expected = try inputs.map { try session.run(["x": $0])["y"]!.values(as: Float.self) }
        let mismatches = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let k = i % inputs.count
            let got = try? session.run(["x": inputs[k]])["y"]?.values(as: Float.self)
            if got != expected[k] { mismatches.wrappingAdd(1, ordering: .relaxed) }
        }
        #expect(mismatches.load(ordering: .relaxed) == 0)
    }

    @Test func metadataReportsDynamicDimensions() throws {
        let session = try InferenceSession(bytes: ModelBuilder.unary("Sigmoid", shape: [nil, 3]).build(), baseDirectory: nil)
        #expect(session.inputs == [ValueInfo(name: "x", dataType: .float32, shape: [nil, 3])])
        #expect(session.outputs == [ValueInfo(name: "y", dataType: .float32, shape: [nil, 3])])
    }

    @Test func shapeSubgraphIsFoldedAtLoad() throws {
        // Shape → Gather(1) → Unsqueeze → Concat([-1, d1]) → Reshape: d1 is static, so the whole
        // shape computation becomes a constant and only the Reshape runs.
        var b = ModelBuilder()
        b.initializers = [
            TensorSpec(name: "one", dims: [], dataType: 7, int64s: [1]),
            TensorSpec(name: "axes", dims: [1], dataType: 7, int64s: [0]),
            TensorSpec(name: "minus1", dims: [1], dataType: 7, int64s: [-1]),
        ]
        b.nodes = [
            NodeSpec(op: "Shape", inputs: ["x"], outputs: ["s"], name: "shape"),
            NodeSpec(op: "Gather", inputs: ["s", "one"], outputs: ["d"], name: "gather", attributes: [.int("axis", 0)]),
            NodeSpec(op: "Unsqueeze", inputs: ["d", "axes"], outputs: ["d1"], name: "unsqueeze"),
            NodeSpec(op: "Concat", inputs: ["minus1", "d1"], outputs: ["target"], name: "concat", attributes: [.int("axis", 0)]),
            NodeSpec(op: "Reshape", inputs: ["x", "target"], outputs: ["y"], name: "reshape"),
        ]
        b.inputs = [("x", 1, [nil, 6, 1])]
        b.outputs = [("y", 1, [nil, 6])]
        let session = try InferenceSession(bytes: b.build(), baseDirectory: nil)
        #expect(session.plan.steps.map(\.opType) == ["Reshape"])
        let y = try session.run(["x": Tensor(shape: [2, 6, 1], values: (0..<12).map(Float.init))])["y"]!
        #expect(y.shape == [2, 6])
    }

    @Test func bundledModelsAgreeAcrossThreadCounts() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["mlp", "cnn", "digits"] {
            let path = root.appendingPathComponent("models/\(name)/1/model.onnx").path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let one = try InferenceSession(path: path)
            let two = try InferenceSession(path: path, options: SessionOptions(computeThreads: 2))
            guard let input = one.inputs.first, input.dataType == .float32 else { continue }
            let shape = input.shape.enumerated().map { $0.element ?? ($0.offset == 0 ? 16 : 1) }
            let x = Tensor(shape: shape, values: GemmTests.values(shape.reduce(1, *), seed: 5).map { abs($0) })
            let a = try one.run([input.name: x]), b = try two.run([input.name: x])
            for (key, t) in a {
                #expect(compare(b[key]!, t) == nil, "\(name) output \(key)")
            }
        }
    }
}
