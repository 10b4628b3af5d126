import Foundation
import InferenceCore
import ONNXRuntime
import Testing
@testable import InferenceServer

/// Replays the v2 decoders' fuzzing inputs (fuzz/corpus and fuzz/regressions, targets v2-json and
/// v2-binary) under `swift test`: decoding either succeeds with consistent tensors or throws an
/// `.invalidRequest`/`.invalidInput` error with a message. A crash found by scripts/fuzz.sh is
/// kept in fuzz/regressions and replayed here.
@Suite struct FuzzRegressionTests {
    static func inputs(_ target: String) -> [(String, [UInt8])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return ["corpus", "regressions"].flatMap { folder -> [(String, [UInt8])] in
            let directory = root.appendingPathComponent("fuzz/\(folder)/\(target)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted().compactMap { name in
                (try? Data(contentsOf: directory.appendingPathComponent(name))).map { ("\(folder)/\(name)", Array($0)) }
            }
        }
    }

    static func decode(_ body: [UInt8], headerLength: Int?, _ name: String) {
        do {
            let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: headerLength)
            for input in request.inputs {
                #expect(input.shape.allSatisfy { $0 >= 0 } && input.tensor.shape == input.shape, "\(name)")
            }
        } catch {
            #expect(error.code == .invalidRequest || error.code == .invalidInput, "\(name): \(error)")
            #expect(!error.message.isEmpty, "\(name)")
        }
    }

    @Test func jsonInputs() {
        let inputs = Self.inputs("v2-json")
        #expect(inputs.count >= 10, "fuzz/corpus/v2-json is missing")
        for (name, bytes) in inputs { Self.decode(bytes, headerLength: nil, name) }
    }

    /// Found by fuzzing (fuzz/regressions/v2-json/empty-tensor-shape-bounded-by-body-size.json): a shape
    /// with a zero dimension was refused as "too large" when its other dimensions multiplied to more
    /// than the body's length, so [0, 75] decoded in a long body but not in a 72-byte one, and a
    /// response holding such a tensor could not be sent back as a request.
    @Test func emptyTensorDoesNotDependOnTheBodyLength() throws {
        let short = Array(#"{"inputs":[{"data":[],"datatype":"FP32","name":"input","shape":[0,75]}]}"#.utf8)
        #expect(short.count == 72)
        let request = try V2Codec.decodeRequest(body: short, inferenceHeaderLength: nil)
        #expect(request.inputs.first?.shape == [0, 75] && request.inputs.first?.tensor.count == 0)
        // Still bounded: the other dimensions of an empty tensor cannot multiply past Int32.max, so no
        // product of the shape overflows, in any order.
        for shape in ["[0,4294967296]", "[1099511627776,1099511627776,0]", "[0,9223372036854775807,2]"] {
            let body = Array(#"{"inputs":[{"name":"x","shape":\#(shape),"datatype":"FP32","data":[]}]}"#.utf8)
            #expect(throws: InferenceError.self) { try V2Codec.decodeRequest(body: body, inferenceHeaderLength: nil) }
            do { _ = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: nil) } catch {
                #expect(error.code == .invalidInput && error.message.contains("non-zero dimensions"), "\(error)")
            }
        }
        #expect(try V2Codec.decodeRequest(body: Array(#"{"inputs":[{"name":"x","shape":[0,65536,32767],"datatype":"FP32","data":[]}]}"#.utf8),
                                          inferenceHeaderLength: nil).inputs[0].tensor.count == 0)
    }

    @Test func binaryInputs() {
        let inputs = Self.inputs("v2-binary")
        #expect(inputs.count >= 5, "fuzz/corpus/v2-binary is missing")
        for (name, bytes) in inputs where bytes.count >= 2 {
            let declared = Int(bytes[0]) | Int(bytes[1]) << 8
            Self.decode(Array(bytes[2...]), headerLength: declared == 0xFFFF ? nil : declared, name)
        }
    }
}
