import ONNXRuntime

/// A decoded Open Inference Protocol inference request (`$inference_request`).
public struct InferRequest: Sendable {
    /// The request's `id`, echoed in the response.
    public var id: String?
    /// Input tensors, in request order; names are unique.
    public var inputs: [InferInput]
    /// Outputs the client asked for, in request order (empty: return every output); names are unique.
    public var outputs: [RequestedOutput]
    /// Request-level `parameters`. `binary_data_output` (if present) is a boolean and `timeout` a
    /// non-negative integer: decoding rejects other types.
    public var parameters: [String: JSONValue]

    public init(id: String? = nil, inputs: [InferInput], outputs: [RequestedOutput] = [], parameters: [String: JSONValue] = [:]) {
        self.id = id
        self.inputs = inputs
        self.outputs = outputs
        self.parameters = parameters
    }

    /// `parameters.binary_data_output` (binary tensor data extension): return every output as binary data
    /// unless that output's own `binary_data` says otherwise. tritonclient sets it when no outputs are listed.
    public var binaryDataOutput: Bool {
        parameters["binary_data_output"]?.boolValue ?? false
    }

    /// `parameters.timeout`, which Triton and tritonclient define in microseconds.
    public var timeoutMicroseconds: Int? {
        parameters["timeout"]?.intValue
    }

    /// `parameters.timeout` converted from microseconds to whole milliseconds, rounded up (so 1 µs is 1 ms,
    /// never 0).
    public var timeoutMilliseconds: Int? {
        guard let micros = timeoutMicroseconds, micros >= 0 else { return nil }
        return micros / 1000 + (micros % 1000 == 0 ? 0 : 1)
    }

    /// Whether the output `name` should be returned as binary data: its own `binary_data` parameter if the
    /// request lists it with one, else `binary_data_output`.
    public func wantsBinaryData(forOutput name: String) -> Bool {
        outputs.first(where: { $0.name == name })?.binaryData ?? binaryDataOutput
    }
}

/// One input tensor of a request (`$request_input`), its data already decoded.
public struct InferInput: Sendable {
    public var name: String
    public var datatype: DataType
    /// Dimensions as sent (all non-negative).
    public var shape: [Int]
    /// The data, row-major, with `tensor.shape == shape` and `tensor.dataType == datatype`.
    public var tensor: Tensor
    /// The input's `parameters` (for example `binary_data_size`).
    public var parameters: [String: JSONValue]

    public init(name: String, tensor: Tensor, parameters: [String: JSONValue] = [:]) {
        self.name = name
        self.datatype = tensor.dataType
        self.shape = tensor.shape
        self.tensor = tensor
        self.parameters = parameters
    }
}

/// An output named in a request (`$request_output`).
public struct RequestedOutput: Sendable, Equatable {
    public var name: String
    /// `parameters.binary_data` if given: true to return this output as binary data, false for JSON.
    public var binaryData: Bool?
    /// The output's `parameters` (for example tritonclient's `classification`, which is not supported).
    public var parameters: [String: JSONValue]

    public init(name: String, binaryData: Bool? = nil, parameters: [String: JSONValue] = [:]) {
        self.name = name
        self.binaryData = binaryData
        self.parameters = parameters
    }
}
