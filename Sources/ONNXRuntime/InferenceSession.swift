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
    let plan: ExecutionPlan
    /// Names the model in error messages.
    private let label: String

    /// Loads `path`; external data files are looked up next to it.
    public convenience init(path: String, options: SessionOptions = SessionOptions()) throws {
        let bytes = try ExternalDataPath.readFile(path)
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        try self.init(bytes: bytes, baseDirectory: directory.isEmpty ? "/" : directory, options: options, label: "model '\(path)'")
    }

    /// Loads a serialized `ModelProto`. `baseDirectory` resolves external data; without it, models
    /// with external data are rejected.
    public convenience init(bytes: [UInt8], baseDirectory: String?, options: SessionOptions = SessionOptions()) throws {
        try self.init(bytes: bytes, baseDirectory: baseDirectory, options: options, label: "model")
    }

    private init(bytes: [UInt8], baseDirectory: String?, options: SessionOptions, label: String) throws {
        self.label = label
        do {
            let model = try bytes.withUnsafeBytes { try ModelProto(bytes: $0, context: "ModelProto") }
            let threads = options.computeThreads > 1 ? ThreadPool(threads: min(options.computeThreads, 256)) : nil
            plan = try GraphBuilder(model: model, baseDirectory: baseDirectory, threads: threads).build()
        } catch let error as ONNXError {
            throw ONNXError(error.code, "\(label): \(error.message)")
        }
        inputs = plan.inputs.filter { $0.defaultValue == nil }.map(\.info)
        outputs = plan.outputs.map(\.info)
    }

    /// Every operator type this runtime can load (`ai.onnx.ml` ones prefixed with that domain).
    public static var supportedOperators: [String] { OperatorRegistry.supportedOps }

    /// Runs the model. Every input without a default must be fed, with its declared element type and
    /// rank, and fixed dimensions matching. Returns every graph output by name.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        do {
            return try plan.run(feeds)
        } catch let error as ONNXError {
            throw ONNXError(error.code, "\(label): \(error.message)")
        }
    }
}
