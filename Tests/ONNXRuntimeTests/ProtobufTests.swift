import Testing
@testable import ONNXRuntime

@Suite struct ProtobufTests {
    @Test(arguments: [Encoding.raw, .packed, .unpacked])
    func floatTensorInEveryEncoding(_ encoding: Encoding) throws {
        for dimsPacked in [false, true] {
            let spec = TensorSpec(name: "w", dims: [2, 3], floats: [1, -2, 3.5, 0, -0.25, 1e-8], encoding: encoding, dimsPacked: dimsPacked)
            let t = try Tensor(protobufBytes: spec.bytes)
            #expect(t.shape == [2, 3])
            #expect(t.values(as: Float.self) == [1, -2, 3.5, 0, -0.25, 1e-8])
        }
    }

    @Test(arguments: [Encoding.raw, .packed, .unpacked])
    func negativeInt64sAreTenByteVarints(_ encoding: Encoding) throws {
        let values: [Int64] = [-1, Int64.min, Int64.max, 0, -300, 1 << 40]
        let spec = TensorSpec(name: "i", dims: [6], dataType: 7, int64s: values, encoding: encoding)
        if encoding == .unpacked {
            // -1 as a varint: nine 0xFF bytes then 0x01.
            #expect(spec.bytes.contains(0xFF) && spec.bytes.count > 40)
        }
        #expect(try Tensor(protobufBytes: spec.bytes).values(as: Int64.self) == values)
    }

    @Test func negativeDimensionIsRejected() throws {
        let spec = TensorSpec(name: "bad", dims: [-2, 3], floats: [])
        expectONNXError(.malformed, containing: ["bad", "dimension"]) { _ = try Tensor(protobufBytes: spec.bytes) }
    }

    @Test func unknownFieldsAreSkipped() throws {
        var w = ProtoWriter()
        w.int(1, 2)
        w.int(100, -7)                 // unknown varint
        w.fixed64(101, 0xDEADBEEF)     // unknown fixed64
        w.string(102, "metadata")      // unknown length-delimited
        w.fixed32(103, 42)             // unknown fixed32
        w.int(2, 1)
        w.string(8, "t")
        w.packedFloats(4, [5, 6])
        let t = try TensorProto(bytes: w.bytes)
        #expect(t.name == "t")
        #expect(try t.tensor().values(as: Float.self) == [5, 6])
    }

    @Test func attributeEncodings() throws {
        // Attribute ints unpacked and packed, float as fixed32, all in one node.
        var b = ModelBuilder.unary("Transpose", shape: [2, 3, 4], attributes: [.ints("perm", [2, 0, 1])])
        b.outputs = [("y", 1, [4, 2, 3])]
        b.addUnknownFields = true
        let session = try InferenceSession(bytes: b.build(), baseDirectory: nil)
        let x = Tensor(shape: [2, 3, 4], values: (0..<24).map(Float.init))
        let y = try #require(try session.run(["x": x])["y"])
        #expect(y.shape == [4, 2, 3])
        #expect(y.values(as: Float.self)[0..<6] == [0, 4, 8, 12, 16, 20])

        var w = ProtoWriter()
        w.string(1, "perm")
        w.int(20, 7)
        w.packedVarints(8, [1, 0, -1])
        w.float(2, 0.5)
        let attr = try w.bytes.withUnsafeBytes { buffer in
            var reader = ProtoReader(buffer, context: "test")
            return try AttributeProto(reader: &reader, depth: 0)
        }
        #expect(attr.ints == [1, 0, -1])
        #expect(attr.f == 0.5)
        #expect(attr.kind == .ints)
    }

    @Test func truncatedInputThrows() throws {
        let bytes = TensorSpec(name: "w", dims: [4], floats: [1, 2, 3, 4], encoding: .packed).bytes
        for cut in 0..<bytes.count {
            do {
                _ = try Tensor(protobufBytes: Array(bytes[..<cut]))
            } catch let error as ONNXError {
                #expect(error.code == .malformed || error.code == .unsupported)
            }
        }
    }

    @Test func oversizedLengthAndVarintThrow() {
        // Length prefix far past the end, and an 11-byte varint.
        expectONNXError(.malformed, containing: ["length"]) { _ = try TensorProto(bytes: [0x4A, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]) }
        expectONNXError(.malformed, containing: ["varint"]) { _ = try TensorProto(bytes: [0x08] + Array(repeating: 0xFF, count: 10) + [0x01]) }
        expectONNXError(.malformed, containing: ["wire type"]) { _ = try TensorProto(bytes: [0x0F]) }
    }

    @Test func hugeElementCountDoesNotAllocate() {
        // dims claim 2^40 floats but only 8 bytes of raw data.
        let spec = TensorSpec(name: "huge", dims: [1 << 20, 1 << 20], floats: [1, 2])
        expectONNXError(.malformed, containing: ["huge"]) { _ = try Tensor(protobufBytes: spec.bytes) }
        let spec2 = TensorSpec(name: "huge2", dims: [1 << 30, 1 << 30, 1 << 30], floats: [1])
        expectONNXError(.malformed, containing: ["huge2"]) { _ = try Tensor(protobufBytes: spec2.bytes) }
    }

    @Test func dataTypeMismatchIsRejected() {
        // FLOAT16 is not supported; INT64 with float_data has no int64 values.
        var half = TensorSpec(name: "h", dims: [1], floats: [1])
        half.dataType = 10
        expectONNXError(.unsupported, containing: ["h", "FLOAT16"]) { _ = try Tensor(protobufBytes: half.bytes) }
        var wrong = TensorSpec(name: "w", dims: [2], floats: [1, 2], encoding: .packed)
        wrong.dataType = 7
        expectONNXError(.malformed, containing: ["w", "int64_data"]) { _ = try Tensor(protobufBytes: wrong.bytes) }
    }

    @Test func randomBytesNeverCrash() {
        var state: UInt64 = 0x12345678
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        let valid = ModelBuilder.unary("Relu", shape: [nil, 4]).build()
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
            } else {
                // Mutate a valid model: flip bytes and truncate.
                bytes = valid
                for _ in 0..<(1 + Int(next() % 4)) { bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next()) }
                bytes = Array(bytes[..<(bytes.count - Int(next() % 8))])
            }
            do {
                let session = try InferenceSession(bytes: bytes, baseDirectory: nil)
                if let input = session.inputs.first, input.dataType == .float32, input.shape.allSatisfy({ ($0 ?? 1) < 64 }) {
                    _ = try? session.run([input.name: Tensor(dataType: .float32, shape: input.shape.map { $0 ?? 1 })])
                }
            } catch is ONNXError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
            _ = try? Tensor(protobufBytes: bytes)
        }
    }
}
