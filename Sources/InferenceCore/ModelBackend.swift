import ONNXRuntime

/// What the batcher and the protocol layer need from an executable model. Transport-neutral.
public protocol ModelBackend: Sendable {
    /// Graph inputs; a `nil` first dimension marks a batchable input.
    var inputs: [ValueInfo] { get }
    var outputs: [ValueInfo] { get }
    /// Runs one batch. May be called from several threads at once.
    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor]
}

extension InferenceSession: ModelBackend {}
