import Foundation
import Testing
@testable import ONNXRuntime

@Suite struct MalformedModelTests {
    @Test func truncatedModelFile() throws {
        let bytes = ModelBuilder.unary("Relu", shape: [nil, 4]).build()
        for cut in stride(from: 1, to: bytes.count, by: 3) {
            do {
                _ = try InferenceSession(bytes: Array(bytes[..<cut]), baseDirectory: nil)
            } catch let error as ONNXError {
                #expect([.malformed, .invalidGraph, .unsupported].contains(error.code), "\(error)")
            }
        }
    }

    @Test func garbageFileNamesThePath() throws {
        let path = NSTemporaryDirectory() + "garbage-\(getpid()).onnx"
        try Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectONNXError(containing: [path]) { _ = try InferenceSession(path: path) }
        expectONNXError(.io, containing: ["/nonexistent/model.onnx"]) { _ = try InferenceSession(path: "/nonexistent/model.onnx") }
    }

    @Test func unknownOperatorIsNamed() {
        var b = ModelBuilder.unary("FancyOp", shape: [2])
        b.nodes[0].name = "weird1"
        expectONNXError(.unsupported, containing: ["weird1", "FancyOp"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    @Test func missingInitializerIsNamed() {
        var b = ModelBuilder()
        b.nodes = [NodeSpec(op: "MatMul", inputs: ["x", "weights"], outputs: ["y"], name: "fc1")]
        b.inputs = [("x", 1, [nil, 3])]
        b.outputs = [("y", 1, [nil, 2])]
        expectONNXError(.invalidGraph, containing: ["fc1", "MatMul", "weights"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    @Test func cyclicGraphIsRejected() {
        var b = ModelBuilder()
        b.nodes = [
            NodeSpec(op: "Add", inputs: ["x", "c"], outputs: ["a"], name: "first"),
            NodeSpec(op: "Relu", inputs: ["a"], outputs: ["b"], name: "second"),
            NodeSpec(op: "Relu", inputs: ["b"], outputs: ["c"], name: "third"),
        ]
        b.inputs = [("x", 1, [2])]
        b.outputs = [("c", 1, [2])]
        expectONNXError(.invalidGraph, containing: ["cycle"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    @Test func wrongElementTypes() throws {
        // Add of FP32 and INT64 is caught at load, naming the node.
        var b = ModelBuilder()
        b.nodes = [NodeSpec(op: "Add", inputs: ["x", "k"], outputs: ["y"], name: "mix")]
        b.initializers = [TensorSpec(name: "k", dims: [2], dataType: 7, int64s: [1, 2])]
        b.inputs = [("x", 1, [2])]
        b.outputs = [("y", 1, [2])]
        expectONNXError(.invalidGraph, containing: ["mix", "Add"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }

        // Feeding INT64 to an FP32 input is a clear run-time error.
        let session = try InferenceSession(bytes: ModelBuilder.unary("Relu", shape: [nil, 2]).build(), baseDirectory: nil)
        expectONNXError(.invalidInput, containing: ["x", "FP32", "INT64"]) { _ = try session.run(["x": Tensor(shape: [1, 2], values: [Int64(1), 2])]) }
        expectONNXError(.invalidInput, containing: ["x", "shape"]) { _ = try session.run(["x": Tensor(shape: [1, 3], values: [Float(1), 2, 3])]) }
        expectONNXError(.invalidInput, containing: ["missing", "x"]) { _ = try session.run([:]) }
        expectONNXError(.invalidInput, containing: ["unknown", "z"]) { _ = try session.run(["x": Tensor(shape: [1, 2], values: [Float(1), 2]), "z": Tensor(shape: [1], values: [Float(0)])]) }

        // An initializer with an unsupported element type names the tensor.
        var s = ModelBuilder.unary("Relu", shape: [2])
        var str = TensorSpec(name: "labels", dims: [1], floats: [0])
        str.dataType = 8
        s.initializers = [str]
        expectONNXError(.unsupported, containing: ["labels", "STRING"]) { _ = try InferenceSession(bytes: s.build(), baseDirectory: nil) }
    }

    /// A shape of 2^40 elements with no values behind it is refused before anything is
    /// allocated (fuzz/regressions/onnx-loader/initializer-shape-without-values.onnx).
    @Test func initializerShapeWithoutValuesIsRefusedBeforeAllocating() {
        var b = ModelBuilder()
        b.nodes = [NodeSpec(op: "Add", inputs: ["x", "k"], outputs: ["y"], name: "shift")]
        b.initializers = [TensorSpec(name: "k", dims: [1 << 20, 1 << 20], floats: [1], encoding: .packed)]
        b.inputs = [("x", 1, [2])]
        b.outputs = [("y", 1, [2])]
        expectONNXError(.malformed, containing: ["k", "float_data", "1 values"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    @Test func runtimeShapeErrorNamesNodeAndOp() throws {
        var b = ModelBuilder()
        b.nodes = [NodeSpec(op: "MatMul", inputs: ["a", "b"], outputs: ["y"], name: "proj")]
        b.inputs = [("a", 1, [nil, nil]), ("b", 1, [nil, nil])]
        b.outputs = [("y", 1, [nil, nil])]
        let session = try InferenceSession(bytes: b.build(), baseDirectory: nil)
        expectONNXError(.invalidInput, containing: ["node 'proj' (MatMul)", "inner dimensions"]) {
            _ = try session.run(["a": Tensor(dataType: .float32, shape: [2, 3]), "b": Tensor(dataType: .float32, shape: [4, 2])])
        }
    }

    @Test func unsupportedOpset() {
        var b = ModelBuilder.unary("Relu", shape: [2])
        b.opset = 7
        expectONNXError(.unsupported, containing: ["opset 7"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    @Test func zipMapOutputIsUnsupported() {
        var b = ModelBuilder()
        b.extraOpsets = [("ai.onnx.ml", 1)]
        b.nodes = [NodeSpec(op: "ZipMap", inputs: ["x"], outputs: ["y"], name: "zip", domain: "ai.onnx.ml", attributes: [.ints("classlabels_int64s", [0, 1])])]
        b.inputs = [("x", 1, [nil, 2])]
        b.outputs = [("y", 1, [nil, 2])]
        expectONNXError(.unsupported, containing: ["zip", "ZipMap", "zipmap=False"]) { _ = try InferenceSession(bytes: b.build(), baseDirectory: nil) }
    }

    /// Random damage to real models (attribute values, shapes, indices) must give errors, not traps.
    @Test func mutatedFixtureModelsNeverCrash() throws {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let cases = ["handmade/pattern_attention_block", "handmade/conv_depthwise_same_upper_stride2", "ops/pattern_split_heads",
                     "ops/slice_negative_step", "ops/gather_negative_indices", "ops/maxpool_ceil_mode_pads", "ops/reshape_heads_dynamic"]
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return Int(state >> 1) }
        for name in cases {
            let folder = fixtures.appendingPathComponent(name)
            guard let model = FileManager.default.contents(atPath: folder.appendingPathComponent("model.onnx").path) else { continue }
            var feeds: [String: Tensor] = [:]
            for i in 0..<8 {
                guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("test_data_set_0/input_\(i).pb").path) else { break }
                let proto = try TensorProto(bytes: [UInt8](data))
                feeds[proto.name] = try proto.tensor()
            }
            let original = [UInt8](model)
            for _ in 0..<300 {
                var bytes = original
                for _ in 0..<(1 + next() % 3) {
                    let at = next() % bytes.count
                    bytes[at] = next() % 4 == 0 ? UInt8(truncatingIfNeeded: next()) : bytes[at] ^ (1 << UInt8(next() % 8))
                }
                do {
                    let session = try InferenceSession(bytes: bytes, baseDirectory: nil)
                    _ = try session.run(feeds)
                } catch is ONNXError {
                } catch {
                    Issue.record("\(name): unexpected error \(error)")
                }
            }
        }
    }

    @Test func externalDataIsReadAndConfined() throws {
        let dir = NSTemporaryDirectory() + "onnx-ext-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/weights", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var blob = [UInt8](repeating: 0, count: 8)
        for v: Float in [2, 3, 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { blob += $0 } }
        try Data(blob).write(to: URL(fileURLWithPath: dir + "/weights/w.bin"))

        func model(location: String, offset: Int = 8, length: Int = 12) -> [UInt8] {
            var b = ModelBuilder()
            b.nodes = [NodeSpec(op: "Mul", inputs: ["x", "w"], outputs: ["y"], name: "scale")]
            b.initializers = [TensorSpec(name: "w", dims: [3], external: (location, offset, length))]
            b.inputs = [("x", 1, [3])]
            b.outputs = [("y", 1, [3])]
            return b.build()
        }
        let path = dir + "/model.onnx"
        try Data(model(location: "weights/w.bin")).write(to: URL(fileURLWithPath: path))
        let session = try InferenceSession(path: path)
        let y = try session.run(["x": Tensor(shape: [3], values: [Float(1), 1, 2])])["y"]!
        #expect(y.values(as: Float.self) == [2, 3, 8])

        for escape in ["../outside.bin", "/etc/passwd", "weights/../../x.bin"] {
            expectONNXError(containing: ["w", "escapes"]) { _ = try InferenceSession(bytes: model(location: escape), baseDirectory: dir) }
        }
        expectONNXError(.malformed, containing: ["w"]) { _ = try InferenceSession(bytes: model(location: "weights/w.bin", offset: 10), baseDirectory: dir) }
        expectONNXError(containing: ["w", "directory"]) { _ = try InferenceSession(bytes: model(location: "weights/w.bin"), baseDirectory: nil) }
    }
}
