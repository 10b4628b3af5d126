import ONNXRuntime
import Testing
@testable import InferenceCore

/// A request's inputs checked against a model's declared ones.
@Suite struct ModelMetadataTests {
    let metadata = ModelMetadata(name: "pair", version: "1",
                                 inputs: [TensorMetadata(name: "a", datatype: .float32, shape: [-1, 2]),
                                          TensorMetadata(name: "b", datatype: .float32, shape: [-1, 3])],
                                 outputs: [TensorMetadata(name: "y", datatype: .float32, shape: [-1, 1])], maxBatchSize: 8)

    func failure(_ feeds: [(name: String, tensor: Tensor)]) -> String? {
        do {
            _ = try metadata.validate(feeds)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func everyInputOnceWithItsShape() throws {
        let a = Tensor(dataType: .float32, shape: [4, 2]), b = Tensor(dataType: .float32, shape: [4, 3])
        #expect(try metadata.validate([("a", a), ("b", b)]) == 4)
        #expect(try metadata.validate([("b", b), ("a", a)]) == 4)
        #expect(failure([("a", a)]) == "missing input 'b' for model 'pair'")
        #expect(failure([("b", b)]) == "missing input 'a' for model 'pair'")
        #expect(failure([("a", a), ("c", b)])?.hasPrefix("unexpected input 'c'") == true)
        #expect(failure([("a", a), ("b", Tensor(dataType: .float32, shape: [3, 3]))])?.contains("every input needs the same first dimension") == true)
    }
}
