import Telemetry
import TelemetryCore

/// Serialises responses straight into a `ByteBuffer`: constant status lines, the cached `Date`
/// line, decimal lengths written by hand. No String is built per response.
///
/// The server owns `Date`, `Server`, `Content-Length`, `Transfer-Encoding` and `Connection`; those
/// fields in a responder's headers are dropped (a responder's `Connection: close` is honoured).
enum ResponseEncoder {
    static let continueResponse: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"

    struct Outcome {
        /// Whether the body bytes follow the head (false for HEAD, 1xx, 204 and 304).
        var sendBody: Bool
        /// Whether the connection closes after this response.
        var close: Bool
    }

    /// Appends status line and header section. `close` may be turned on by the responder's own
    /// `Connection: close`; `http10KeepAlive` adds `Connection: keep-alive` for HTTP/1.0 clients.
    /// `requestID` is written as it is: it comes from `RequestID`, which makes it or accepts the
    /// client's only when it has no characters but letters, digits and `._:+/=-`.
    static func encodeHead(_ response: HTTPResponse, requestID: RequestID?, isHead: Bool, close: Bool,
                           http10KeepAlive: Bool, date: [UInt8], into out: inout ByteBuffer) -> Outcome {
        let code = response.status.code
        if let line = statusLine(code), response.status.reason == HTTPStatus.standardReason(code) {
            out.append(line)
        } else {
            out.append("HTTP/1.1 ")
            out.appendDecimal(min(max(code, 100), 999))
            out.append(.space)
            out.appendSanitised(response.status.reason)
            out.append("\r\n")
        }
        out.append(date)
        out.append("Server: pd-inference\r\n")

        var close = close
        var responderSetRequestID = false
        for field in response.headers.fields {
            switch managedField(field.name) {
            case .skip:
                continue
            case .connection:
                if HeaderList.contains(field.value, "close") { close = true }
                continue
            case .requestID:
                responderSetRequestID = true
            case .trace:
                if response.traceContext != nil { continue }
            case .other:
                break
            }
            out.appendSanitised(field.name)
            out.append(": ")
            out.appendSanitised(field.value)
            out.append("\r\n")
        }
        if let trace = response.traceContext {
            out.append("traceparent: ")
            out.appendRaw(maxCount: TraceContext.traceparentLength) { trace.writeTraceparent(to: &$0) }
            out.append("\r\n")
            if let tracestate = trace.tracestate {
                out.append("tracestate: ")
                out.appendSanitised(tracestate)
                out.append("\r\n")
            }
        }
        if let requestID, !responderSetRequestID {
            out.append("X-Request-Id: ")
            requestID.write(into: &out)  // made or vetted by RequestID: no control characters
            out.append("\r\n")
        }
        // RFC 9110 §8.6: no Content-Length in 1xx and 204; 304 describes a representation not sent.
        let bodyless = code < 200 || code == 204 || code == 304
        if !bodyless {
            out.append("Content-Length: ")
            out.appendDecimal(response.body.count)
            out.append("\r\n")
        }
        if close {
            out.append("Connection: close\r\n")
        } else if http10KeepAlive {
            out.append("Connection: keep-alive\r\n")
        }
        out.append("\r\n")
        return Outcome(sendBody: !bodyless && !isHead && !response.body.isEmpty, close: close)
    }

    enum ManagedField { case other, skip, connection, requestID, trace }

    /// Classifies a responder's header name by length first, so most names cost one comparison.
    static func managedField(_ name: String) -> ManagedField {
        let utf8 = name.utf8
        // Only these lengths can name a managed field: most names cost no more than this.
        switch utf8.count {
        case 4, 6, 10, 11, 12, 14, 17: break
        default: return .other
        }
        if let kind = utf8.withContiguousStorageIfAvailable(managedField) { return kind }
        var name = name
        return name.withUTF8(managedField)
    }

    static func managedField(_ b: UnsafeBufferPointer<UInt8>) -> ManagedField {
        switch b.count {
        case 4: return equalsLowercase(b, "date") ? .skip : .other
        case 6: return equalsLowercase(b, "server") ? .skip : .other
        case 10: return equalsLowercase(b, "connection") ? .connection : equalsLowercase(b, "tracestate") ? .trace : .other
        case 11: return equalsLowercase(b, "traceparent") ? .trace : .other
        case 12: return equalsLowercase(b, "x-request-id") ? .requestID : .other
        case 14: return equalsLowercase(b, "content-length") ? .skip : .other
        case 17: return equalsLowercase(b, "transfer-encoding") ? .skip : .other
        default: return .other
        }
    }

    static func equalsLowercase(_ b: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        HeaderList.equalsLowercase(b, 0..<b.count, literal)
    }

    /// `HTTP/1.1 <code> <standard reason>\r\n` for the codes `HTTPStatus` names.
    static func statusLine(_ code: Int) -> StaticString? {
        switch code {
        case 100: "HTTP/1.1 100 Continue\r\n"
        case 200: "HTTP/1.1 200 OK\r\n"
        case 201: "HTTP/1.1 201 Created\r\n"
        case 202: "HTTP/1.1 202 Accepted\r\n"
        case 204: "HTTP/1.1 204 No Content\r\n"
        case 301: "HTTP/1.1 301 Moved Permanently\r\n"
        case 304: "HTTP/1.1 304 Not Modified\r\n"
        case 400: "HTTP/1.1 400 Bad Request\r\n"
        case 401: "HTTP/1.1 401 Unauthorized\r\n"
        case 403: "HTTP/1.1 403 Forbidden\r\n"
        case 404: "HTTP/1.1 404 Not Found\r\n"
        case 405: "HTTP/1.1 405 Method Not Allowed\r\n"
        case 406: "HTTP/1.1 406 Not Acceptable\r\n"
        case 408: "HTTP/1.1 408 Request Timeout\r\n"
        case 409: "HTTP/1.1 409 Conflict\r\n"
        case 411: "HTTP/1.1 411 Length Required\r\n"
        case 413: "HTTP/1.1 413 Content Too Large\r\n"
        case 414: "HTTP/1.1 414 URI Too Long\r\n"
        case 415: "HTTP/1.1 415 Unsupported Media Type\r\n"
        case 417: "HTTP/1.1 417 Expectation Failed\r\n"
        case 422: "HTTP/1.1 422 Unprocessable Content\r\n"
        case 429: "HTTP/1.1 429 Too Many Requests\r\n"
        case 431: "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        case 499: "HTTP/1.1 499 Client Closed Request\r\n"
        case 500: "HTTP/1.1 500 Internal Server Error\r\n"
        case 501: "HTTP/1.1 501 Not Implemented\r\n"
        case 502: "HTTP/1.1 502 Bad Gateway\r\n"
        case 503: "HTTP/1.1 503 Service Unavailable\r\n"
        case 504: "HTTP/1.1 504 Gateway Timeout\r\n"
        case 505: "HTTP/1.1 505 HTTP Version Not Supported\r\n"
        default: nil
        }
    }
}
