import ONNXRuntime

/// Name, datatype and shape (-1 for a dynamic dimension) of one model input or output.
public struct TensorMetadata: Sendable, Equatable {
    public let name: String
    public let datatype: DataType
    public let shape: [Int]

    public init(name: String, datatype: DataType, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }

    public init(_ info: ValueInfo) {
        self.init(name: info.name, datatype: info.dataType, shape: info.shape.map { $0 ?? -1 })
    }
}

/// The Open Inference Protocol's model metadata, plus what the batcher needs.
public struct ModelMetadata: Sendable, Equatable {
    public let name: String
    public let version: String
    public let platform: String
    public let inputs: [TensorMetadata]
    public let outputs: [TensorMetadata]
    /// Largest number of rows one run accepts; 0 when the model has no batch dimension.
    public let maxBatchSize: Int

    public init(name: String, version: String, platform: String = "onnx", inputs: [TensorMetadata],
                outputs: [TensorMetadata], maxBatchSize: Int) {
        self.name = name
        self.version = version
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
        self.maxBatchSize = maxBatchSize
    }

    /// True when every input's first dimension is dynamic, so requests can be stacked along it.
    public static func isBatchable(_ inputs: [TensorMetadata]) -> Bool {
        !inputs.isEmpty && inputs.allSatisfy { $0.shape.first == -1 }
    }

    /// Checks one request's inputs against the metadata and returns its row count (1 when not batchable).
    public func validate(_ feeds: [(name: String, tensor: Tensor)]) throws(InferenceError) -> Int {
        var rows: Int? = nil
        for (name, tensor) in feeds {
            guard let spec = inputs.first(where: { $0.name == name }) else {
                let known = inputs.map { "'\($0.name)'" }.joined(separator: ", ")
                throw InferenceError(.invalidInput, "unexpected input '\(name)'; model '\(self.name)' takes \(known)")
            }
            guard tensor.dataType == spec.datatype else {
                throw InferenceError(.invalidInput,
                    "input '\(name)' has datatype \(tensor.dataType), model '\(self.name)' expects \(spec.datatype)")
            }
            guard tensor.shape.count == spec.shape.count,
                  zip(tensor.shape, spec.shape).allSatisfy({ $1 == -1 || $0 == $1 }) else {
                throw InferenceError(.invalidInput,
                    "input '\(name)' has shape \(tensor.shape), model '\(self.name)' expects \(spec.shape) (-1 is any size)")
            }
            if maxBatchSize > 0 {
                let r = tensor.shape[0]
                if let rows, rows != r {
                    throw InferenceError(.invalidInput,
                        "input '\(name)' has \(r) rows but other inputs have \(rows); every input needs the same first dimension")
                }
                rows = r
            }
        }
        if let missing = inputs.first(where: { spec in !feeds.contains { $0.name == spec.name } }) {
            throw InferenceError(.invalidInput, "missing input '\(missing.name)' for model '\(name)'")
        }
        let n = rows ?? 1
        if maxBatchSize > 0 && n < 1 {
            throw InferenceError(.invalidInput, "a request needs at least one row; got shape with first dimension \(n)")
        }
        if maxBatchSize > 0 && n > maxBatchSize {
            throw InferenceError(.invalidInput, "request has \(n) rows; model '\(name)' accepts at most \(maxBatchSize) per request")
        }
        return n
    }
}
