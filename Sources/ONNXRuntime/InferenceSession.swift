/// Name, element type and shape of a graph input or output; `nil` dimensions are dynamic.
public struct ValueInfo: Sendable, Equatable {
    public let name: String
    public let dataType: DataType
    public let shape: [Int?]

    public init(name: String, dataType: DataType, shape: [Int?]) {
        self.name = name
        self.dataType = dataType
        self.shape = shape
    }
}

/// Knobs for one loaded model.
public struct SessionOptions: Sendable {
    /// Threads one `run` may use to split large operators.
    public var computeThreads: Int

    public init(computeThreads: Int = 1) { self.computeThreads = computeThreads }
}

/// Why a model could not be loaded or run.
public struct ONNXError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable { case malformed, unsupported, invalidGraph, invalidInput, runtime, io }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A loaded ONNX model, ready to run. `run` may be called from several threads at once.
public final class InferenceSession: Sendable {
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]

    public convenience init(path: String, options: SessionOptions = SessionOptions()) throws {
        throw ONNXError(.unsupported, "ONNX loading is not implemented yet (\(path))")
    }

    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        throw ONNXError(.unsupported, "not implemented")
    }

    private init(inputs: [ValueInfo], outputs: [ValueInfo]) {
        self.inputs = inputs
        self.outputs = outputs
    }
}
