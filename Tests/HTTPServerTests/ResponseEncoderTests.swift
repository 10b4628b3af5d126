import Testing
import Telemetry
@testable import HTTPServer

@Suite("ResponseEncoder, DateCache, RequestID")
struct ResponseEncoderTests {
    static let date: [UInt8] = Array("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".utf8)

    func encode(_ response: HTTPResponse, requestID: RequestID? = .given("abc"), isHead: Bool = false, close: Bool = false,
                http10KeepAlive: Bool = false) -> (String, ResponseEncoder.Outcome) {
        var out = ByteBuffer(capacity: 64)
        let outcome = ResponseEncoder.encodeHead(response, requestID: requestID, isHead: isHead, close: close,
                                                 http10KeepAlive: http10KeepAlive, date: Self.date, into: &out)
        if outcome.sendBody { out.append(response.body) }
        return (String(decoding: out.array(), as: UTF8.self), outcome)
    }

    @Test func plainResponse() {
        let (text, outcome) = encode(HTTPResponse(status: .ok, contentType: "text/plain", body: "ok"))
        #expect(text == "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: pd-inference\r\n"
            + "Content-Type: text/plain\r\nX-Request-Id: abc\r\nContent-Length: 2\r\n\r\nok")
        #expect(outcome.sendBody && !outcome.close)
    }

    @Test func headKeepsContentLengthWithoutBody() {
        let (text, outcome) = encode(HTTPResponse(status: .ok, body: Array(repeating: 1, count: 1234)), isHead: true)
        #expect(text.hasSuffix("Content-Length: 1234\r\n\r\n"))
        #expect(!outcome.sendBody)
    }

    @Test func closeAndHTTP10KeepAlive() {
        #expect(encode(HTTPResponse(), close: true).0.contains("Connection: close\r\n"))
        #expect(encode(HTTPResponse(), http10KeepAlive: true).0.contains("Connection: keep-alive\r\n"))
        #expect(!encode(HTTPResponse()).0.contains("Connection:"))
    }

    @Test func serverOwnedHeadersAreReplacedAndResponderCloseIsHonoured() {
        let response = HTTPResponse(status: .ok, headers: [
            "content-length": "999", "Date": "yesterday", "Transfer-Encoding": "chunked", "Connection": "close",
            "Server": "other", "X-Request-Id": "from-handler",
        ], body: Array("hi".utf8))
        let (text, outcome) = encode(response)
        #expect(outcome.close)
        #expect(text.contains("Content-Length: 2\r\n") && !text.contains("999"))
        #expect(!text.contains("yesterday") && !text.contains("chunked") && !text.contains("other"))
        #expect(text.contains("X-Request-Id: from-handler\r\n") && !text.contains("X-Request-Id: abc"))
        #expect(text.contains("Connection: close\r\n"))
    }

    @Test func bodylessStatuses() {
        let (noContent, outcome) = encode(HTTPResponse(status: .noContent, body: Array("x".utf8)))
        #expect(!noContent.contains("Content-Length") && !outcome.sendBody)
        #expect(encode(HTTPResponse(status: HTTPStatus(code: 304))).0.hasPrefix("HTTP/1.1 304 Not Modified\r\n"))
    }

    @Test func customReasonAndUnknownCode() {
        #expect(encode(HTTPResponse(status: HTTPStatus(code: 200, reason: "Fine"))).0.hasPrefix("HTTP/1.1 200 Fine\r\n"))
        #expect(encode(HTTPResponse(status: HTTPStatus(code: 299))).0.hasPrefix("HTTP/1.1 299 Status 299\r\n"))
    }

    @Test func traceContextIsWrittenFromItsIDsAndReplacesTheResponderHeaders() throws {
        let headers: HTTPHeaders = ["traceparent": "00-11111111111111111111111111111111-2222222222222222-00",
                                    "TraceState": "old=1", "X-Other": "kept"]
        var response = HTTPResponse(status: .ok, headers: headers)
        // Without a trace context the responder's headers pass through unchanged.
        let (plain, _) = encode(response)
        #expect(plain.contains("traceparent: 00-11111111111111111111111111111111-2222222222222222-00\r\n"))
        #expect(plain.contains("TraceState: old=1\r\n"))

        var trace = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        response.traceContext = trace
        let (text, _) = encode(response)
        #expect(text.contains("traceparent: \(trace.traceparent)\r\n"))
        #expect(text.contains("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"))
        #expect(!text.contains("1111") && !text.contains("old=1") && !text.lowercased().contains("tracestate"))
        #expect(text.contains("X-Other: kept\r\n"))

        trace.traceState = try TraceState(parsing: "vendor=abc,other=x")
        response.traceContext = trace
        let (withState, _) = encode(response)
        #expect(withState.contains("tracestate: vendor=abc,other=x\r\n"))
        #expect(withState.components(separatedBy: "traceparent:").count == 2)
    }

    @Test func headerValuesCannotInjectLines() {
        let (text, _) = encode(HTTPResponse(status: .ok, headers: ["X-Evil": "a\r\nSet-Cookie: b"]))
        #expect(text.contains("X-Evil: a  Set-Cookie: b\r\n"))
    }

    @Test(arguments: [0, 7, 10, 99, 100, 12345, 1 << 40, Int.max])
    func decimal(value: Int) {
        var out = ByteBuffer(capacity: 64)
        out.appendDecimal(value)
        #expect(String(decoding: out.array(), as: UTF8.self) == String(value))
    }

    @Test func everyNamedStatusHasItsLine() {
        for code in 100..<600 {
            guard let line = ResponseEncoder.statusLine(code) else { continue }
            #expect(line.description == "HTTP/1.1 \(code) \(HTTPStatus.standardReason(code))\r\n")
        }
        #expect(ResponseEncoder.statusLine(200) != nil && ResponseEncoder.statusLine(503) != nil)
    }

    @Test func bufferGrowsAndShrinks() {
        var out = ByteBuffer(capacity: 64)
        let chunk = Array(repeating: UInt8(7), count: 1000)
        for _ in 0..<300 { out.append(chunk) }
        #expect(out.count == 300_000)
        #expect(out.array().allSatisfy { $0 == 7 })
        out.removeAll(keeping: 4096)
        #expect(out.isEmpty && out.capacity == 4096)
    }

    @Test func imfFixdate() {
        var out: [UInt8] = []
        DateCache.appendIMFFixdate(784_111_777, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "Sun, 06 Nov 1994 08:49:37 GMT")
        out = []
        DateCache.appendIMFFixdate(1_798_761_600, to: &out)  // 2027-01-01
        #expect(String(decoding: out, as: UTF8.self) == "Fri, 01 Jan 2027 00:00:00 GMT")
        var cache = DateCache()
        cache.update(now: 784_111_777)
        #expect(cache.line == Self.date)
    }

    @Test func requestIDsAreUniqueAndShort() {
        let ids = (0..<1000).map { _ in RequestID.next().description }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count <= 24 && RequestID.isAcceptable($0) })
    }

    @Test func aMadeIDIsWrittenAsItsText() {
        for n: UInt64 in [0, 1, 9, 10, 15, 16, 0xABC, 1 << 32, 0x0123_4567_89AB_CDEF, .max] {
            let id = RequestID.generated(n)
            let text = id.description
            let parts = text.split(separator: "-")
            #expect(parts.count == 2 && parts[0].utf8.count == 8 && UInt64(parts[1], radix: 16) == n, "\(text)")
            #expect(text.utf8.allSatisfy { $0 == 0x2D || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
            var out = ByteBuffer(capacity: 4)
            id.write(into: &out)
            #expect(String(decoding: out.array(), as: UTF8.self) == text)
        }
        var out = ByteBuffer(capacity: 4)
        RequestID.given("client-7").write(into: &out)
        #expect(out.array() == Array("client-7".utf8))
    }

    @Test func clientRequestIDValidation() {
        #expect(RequestID.forRequest(["x-request-id": "trace-123_ab.c:d"]) == .given("trace-123_ab.c:d"))
        #expect(RequestID.forRequest(["X-Request-Id": "bad id"]).description != "bad id")
        #expect(RequestID.forRequest(["X-Request-Id": String(repeating: "a", count: 129)]).description.utf8.count < 129)
        #expect(!RequestID.isAcceptable(""))
        #expect(!RequestID.isAcceptable("a\u{0}b"))
    }
}

@Suite("Socket helpers")
struct SocketTests {
    @Test func addressText() throws {
        #expect(Socket.display(host: "0.0.0.0", port: 8080) == "0.0.0.0:8080")
        #expect(Socket.display(host: "::", port: 80) == "[::]:80")
        var v4 = try Socket.resolve(host: "127.0.0.1", port: 8080)
        #expect(Socket.describe(v4.storage) == "127.0.0.1:8080")
        Socket.setPort(&v4, 9)
        #expect(Socket.port(of: v4.storage) == 9)
        let v6 = try Socket.resolve(host: "::1", port: 443)
        #expect(Socket.describe(v6.storage) == "[::1]:443")
    }

    @Test func unresolvableHostIsNamedInTheError() {
        #expect {
            _ = try Socket.resolve(host: "pd-inference-test.invalid", port: 1)
        } throws: { error in
            (error as? HTTPServerError)?.code == .invalidAddress
                && ((error as? HTTPServerError)?.message.contains("pd-inference-test.invalid:1") ?? false)
        }
    }
}
