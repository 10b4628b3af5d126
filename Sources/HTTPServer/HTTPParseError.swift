/// Why a request could not be parsed; carries the status to answer with.
///
/// After any parse error the connection is closed: the parser can no longer tell where the
/// next message starts (RFC 9112 §11.2 for framing errors).
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The request line and header fields exceed `maxHeaderBytes` (431).
        case headerFieldsTooLarge
        /// The body exceeds `maxBodyBytes`, by `Content-Length` or by the chunked total (413).
        case contentTooLarge
        /// The request line is not `method SP target SP HTTP/x.y` (400).
        case malformedRequestLine
        /// A header (or trailer) field line is malformed (400).
        case malformedHeader
        /// `Content-Length` is not a number, or copies disagree (400).
        case invalidContentLength
        /// Both `Content-Length` and `Transfer-Encoding`, or chunked framing used wrongly (400).
        case conflictingFraming
        /// A chunk-size line or chunk delimiter is malformed (400).
        case malformedChunk
        /// HTTP/1.1 requires exactly one `Host` field (400).
        case invalidHost
        /// A transfer coding other than `chunked` (501).
        case unsupportedTransferEncoding
        /// An HTTP major version other than 1 (505).
        case unsupportedVersion
        /// An `Expect` value other than `100-continue` (417).
        case expectationFailed
    }

    public let code: Code
    /// A short description for the `{"error": "..."}` body.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The status code the server answers with.
    public var status: HTTPStatus {
        switch code {
        case .headerFieldsTooLarge: .requestHeaderFieldsTooLarge
        case .contentTooLarge: .payloadTooLarge
        case .malformedRequestLine, .malformedHeader, .invalidContentLength, .conflictingFraming, .malformedChunk,
             .invalidHost:
            .badRequest
        case .unsupportedTransferEncoding: .notImplemented
        case .unsupportedVersion: .httpVersionNotSupported
        case .expectationFailed: HTTPStatus(code: 417)
        }
    }

    /// Whether the connection must be closed after the error response (always, see the type's note).
    public var closeConnection: Bool { true }

    public var description: String { "\(status.code) \(message)" }
}
