import HTTPServer
import InferenceCore

/// The one place where transport-neutral error codes become HTTP statuses.
extension InferenceError {
    public var httpStatus: HTTPStatus {
        switch code {
        case .invalidRequest: .badRequest
        case .invalidInput: .unprocessableContent
        case .notFound: .notFound
        case .unsupportedMediaType: .unsupportedMediaType
        case .queueFull, .draining, .modelNotReady: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        case .cancelled: HTTPStatus(code: 499)
        case .internalError: .internalServerError
        }
    }

    /// The `outcome` label of `pd_inference_requests_total`.
    public var outcome: String {
        switch code {
        case .invalidRequest, .invalidInput, .notFound, .unsupportedMediaType: "invalid"
        case .queueFull, .draining, .modelNotReady: "rejected"
        case .deadlineExceeded: "timeout"
        case .cancelled: "cancelled"
        case .internalError: "error"
        }
    }

    /// `{"error": "..."}` with the status for this code; 503s carry `Retry-After`.
    public var response: HTTPResponse {
        var headers: HTTPHeaders = [:]
        if httpStatus.code == 503 { headers.add(name: "Retry-After", value: "1") }
        return Router.errorResponse(httpStatus, message, headers: headers)
    }
}
