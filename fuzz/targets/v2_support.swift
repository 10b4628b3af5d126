// Shared checks of the v2 decoding targets.

import InferenceCore
import ONNXRuntime

enum FuzzV2 {
    /// The bundled models' input signatures (see models/): batchable FP32 inputs.
    static let models = [
        ModelMetadata(name: "mlp", version: "1", inputs: [TensorMetadata(name: "input", datatype: .float32, shape: [-1, 784])],
                      outputs: [TensorMetadata(name: "output", datatype: .float32, shape: [-1, 10])], maxBatchSize: 32),
        ModelMetadata(name: "digits", version: "1", inputs: [TensorMetadata(name: "input", datatype: .float32, shape: [-1, 64])],
                      outputs: [TensorMetadata(name: "label", datatype: .int64, shape: [-1])], maxBatchSize: 32),
        ModelMetadata(name: "fixed", version: "1", inputs: [TensorMetadata(name: "x", datatype: .int64, shape: [2, 3])],
                      outputs: [TensorMetadata(name: "y", datatype: .int64, shape: [2, 3])], maxBatchSize: 0),
    ]

    static func check(_ request: InferRequest) {
        for input in request.inputs {
            require(input.shape.allSatisfy { $0 >= 0 }, "negative dimension accepted")
            require(input.tensor.shape == input.shape && input.tensor.dataType == input.datatype, "tensor differs from input")
            require(input.tensor.byteCount == input.tensor.storage.byteCount || input.tensor.count == 0,
                         "tensor storage does not match its shape")
        }
        _ = request.binaryDataOutput
        _ = request.timeoutMilliseconds
        for model in models {
            do {
                let rows = try model.validate(request.inputs.map { (name: $0.name, tensor: $0.tensor) })
                require(rows >= 1 && (model.maxBatchSize == 0 || rows <= model.maxBatchSize), "rows out of range")
                fuzzSink &+= rows
            } catch {
                require(error.code == .invalidInput, "validation failed with \(error.code)")
            }
        }
    }

    static func check(_ error: any Error) {
        guard let error = error as? InferenceError else { fatalError("unexpected error type: \(error)") }
        require(error.code == .invalidRequest || error.code == .invalidInput, "unexpected code \(error.code)")
        require(!error.message.isEmpty, "empty message")
        fuzzSink &+= error.message.utf8.count
    }

    /// Encodes the inputs as a JSON response, checks it parses, turns its `outputs` into a request
    /// and compares the tensors decoded from it bit for bit.
    static func roundTrip(_ request: InferRequest) {
        // JSON has no NaN or infinity; binary inputs may carry them and are written as null.
        for input in request.inputs where input.datatype == .float32 || input.datatype == .float64 {
            let finite = input.datatype == .float32
                ? input.tensor.values(as: Float.self).allSatisfy(\.isFinite)
                : input.tensor.values(as: Double.self).allSatisfy(\.isFinite)
            if !finite { return }
        }
        let outputs = request.inputs.map { (name: $0.name, tensor: $0.tensor) }
        let (encoded, headerLength) = V2Codec.encodeResponse(modelName: "m", modelVersion: "1", id: request.id,
                                                             outputs: outputs, binary: { _ in false })
        require(headerLength == nil, "JSON-only response has a binary header length")
        let response: JSONValue
        do { response = try JSONValue.parse(encoded) } catch {
            fatalError("response is not valid JSON: \(error)")
        }
        guard case .object(let members) = response, let echoed = members["outputs"] else {
            fatalError("response has no outputs")
        }
        let again: InferRequest
        do {
            again = try V2Codec.decodeRequest(body: Array(JSONValue.object(["inputs": echoed]).description.utf8),
                                              inferenceHeaderLength: nil)
        } catch {
            fatalError("re-encoded request does not decode: \(error)")
        }
        require(again.inputs.count == request.inputs.count, "input count changed")
        for (a, b) in zip(request.inputs, again.inputs) {
            require(a.name == b.name && a.shape == b.shape && a.datatype == b.datatype, "input \(a.name) changed")
            let same = a.tensor.withUnsafeBytes { x in b.tensor.withUnsafeBytes { y in x.elementsEqual(y) } }
            require(same, "input \(a.name) data changed in a JSON round trip")
        }
    }
}

/// Like `precondition`, but the message survives -O (libFuzzer then prints it with the crash).
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
