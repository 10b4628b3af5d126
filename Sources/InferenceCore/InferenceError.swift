/// A transport-neutral error. The HTTP status for each code is chosen in one place, in `InferenceServer`.
public struct InferenceError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// Malformed request (bad JSON, bad binary layout, missing field).
        case invalidRequest
        /// Well-formed request that does not fit the model (wrong shape, datatype, element count).
        case invalidInput
        /// The body's media type is not one the protocol accepts.
        case unsupportedMediaType
        /// Unknown model or version.
        case notFound
        /// The model's queue is full.
        case queueFull
        /// The server is draining and accepts no new work.
        case draining
        /// The model exists but is not loaded / failed to load.
        case modelNotReady
        /// The request's deadline passed before it could be computed.
        case deadlineExceeded
        /// The client went away before the request was computed.
        case cancelled
        /// A fault in the server or the model run.
        case internalError
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
