import Testing
@testable import HTTPServer

@Suite("HTTPParser")
struct HTTPParserTests {
    static let get = "GET /v2/models/digits?verbose=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"
    static let post = "POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":[1,2]}"
    static let chunked = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5;name=value\r\nhello\r\n" + "1 ; quoted=\"a b\"\r\n,\r\n" + "6\r\n world\r\n" + "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"

    @Test func parsesRequestLineAndHeaders() throws {
        let events = parse(Self.get)
        #expect(events.count == 1)
        guard case .request(let r) = try #require(events.first) else { Issue.record("no request: \(events)"); return }
        #expect(r.method == "GET")
        #expect(r.path == "/v2/models/digits")
        #expect(r.query == "verbose=1")
        #expect(r.headers == ["Host: localhost:8080", "User-Agent: test", "Accept: */*"])
        #expect(r.body.isEmpty)
        #expect(r.minorVersion == 1)
        #expect(r.keepAlive)
    }

    @Test func parsesContentLengthBody() throws {
        let events = parse(Self.post)
        guard case .request(let r) = try #require(events.first) else { Issue.record("\(events)"); return }
        #expect(r.method == "POST")
        #expect(String(decoding: r.body, as: UTF8.self) == "{\"a\":[1,2]}")
    }

    @Test(arguments: [get, post, chunked])
    func everySplitGivesTheSameRequest(text: String) {
        let bytes = Array(text.utf8)
        let whole = parse([bytes])
        #expect(whole.count == 1)
        for chunks in splits(of: bytes) {
            let events = parse(chunks).filter { !$0.isContinue }
            #expect(events == whole, "split into \(chunks.map(\.count))")
        }
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let events = parse(Self.chunked)
        guard case .request(let r) = try #require(events.first) else { Issue.record("\(events)"); return }
        #expect(String(decoding: r.body, as: UTF8.self) == "hello, world")
        // Trailer fields are validated and dropped; they never become headers.
        #expect(!r.headers.contains { $0.hasPrefix("X-Checksum") })
        #expect(r.headers.contains("Transfer-Encoding: chunked"))
    }

    @Test func chunkedWithUppercaseHexAndBareLineFeeds() throws {
        let events = parse("POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\nA\n0123456789\n0\n\n")
        guard case .request(let r) = try #require(events.first) else { Issue.record("\(events)"); return }
        #expect(r.body == Array("0123456789".utf8))
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let text = Self.get + Self.post + Self.chunked + "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let events = parse(text)
        let paths = events.compactMap { event -> String? in
            if case .request(let r) = event { return r.path }
            return nil
        }
        #expect(paths == ["/v2/models/digits", "/v2/models/digits/infer", "/upload", "/last"])
        if case .request(let last) = events.last { #expect(!last.keepAlive) }
        // Same result when the whole pipeline arrives one byte at a time.
        #expect(parse(Array(text.utf8).map { [$0] }).filter { !$0.isContinue } == events)
    }

    @Test func leadingEmptyLinesAreIgnored() {
        let events = parse("\r\n\r\n" + Self.get)
        #expect(events.count == 1)
    }

    @Test func absoluteFormAndAsteriskTargets() throws {
        guard case .request(let a) = try #require(parse("GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").first),
              case .request(let b) = try #require(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").first),
              case .request(let c) = try #require(parse("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").first)
        else { Issue.record("not parsed"); return }
        #expect(a.path == "/p/q" && a.query == "x=1")
        #expect(b.path == "*" && b.method == "OPTIONS")
        #expect(c.path == "/")
    }

    // MARK: Keep-alive (RFC 9112 §9.3)

    @Test(arguments: [
        ("HTTP/1.1", "", true),
        ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
        ("HTTP/1.1", "Connection: upgrade\r\n", true),
        ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ("HTTP/1.0", "Connection: keep-alive\r\nConnection: close\r\n", false),
    ])
    func keepAliveRules(version: String, header: String, expected: Bool) throws {
        let events = parse("GET / \(version)\r\nHost: x\r\n\(header)\r\n")
        guard case .request(let r) = try #require(events.first) else { Issue.record("\(events)"); return }
        #expect(r.keepAlive == expected)
        #expect(r.minorVersion == (version == "HTTP/1.0" ? 0 : 1))
    }

    @Test func http10MayOmitHost() {
        #expect(parse("GET / HTTP/1.0\r\n\r\n").count == 1)
    }

    // MARK: Expect: 100-continue

    @Test func expectContinueBeforeTheBody() {
        var parser = HTTPParser()
        parser.append(Array("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".utf8))
        guard case .sendContinue = parser.next() else { Issue.record("expected sendContinue"); return }
        guard case .needMoreData = parser.next() else { Issue.record("expected needMoreData"); return }
        parser.append(Array("body".utf8))
        guard case .request(let request, _) = parser.next() else { Issue.record("expected request"); return }
        #expect(request.body == Array("body".utf8))
    }

    @Test func expectContinueIsSkippedWhenTheBodyIsAlreadyHere() {
        let events = parse("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\nbody")
        #expect(events.count == 1)
        #expect(!events.contains(.sendContinue))
    }

    @Test func expectContinueIsIgnoredForHTTP10AndBodylessRequests() {
        #expect(!parse("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").contains(.sendContinue))
        #expect(!parse("GET /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").contains(.sendContinue))
    }

    @Test func expectContinueWithChunkedBody() {
        let events = parse([Array("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n".utf8),
                            Array("3\r\nabc\r\n0\r\n\r\n".utf8)])
        #expect(events.first == .sendContinue)
        #expect(events.count == 2)
    }

    // MARK: Limits and errors

    @Test func headerBytesOverTheLimitGive431() {
        let limits = HTTPParser.Limits(maxHeaderBytes: 1024)
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "a", count: 2000))\r\n\r\n"
        #expect(parse(big, limits: limits) == [.error(.headerFieldsTooLarge, status: 431)])
        // Without the end of the head ever arriving, too: the parser must not keep buffering.
        var parser = HTTPParser(limits: limits)
        var result: HTTPParser.Action = .needMoreData
        for _ in 0..<100 {
            parser.append(Array(repeating: UInt8(ascii: "a"), count: 100))
            result = parser.next()
            if case .error = result { break }
        }
        guard case .error(let error) = result else { Issue.record("no error"); return }
        #expect(error.status.code == 431)
        #expect(parser.bufferedByteCount == 0)
        // A head of exactly the limit is fine.
        let exact = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "b", count: 1024 - 36) + "\r\n\r\n"
        #expect(exact.utf8.count == 1024)
        #expect(parse(exact, limits: limits).count == 1)
        if case .error = parse(exact, limits: limits).first { Issue.record("exact-size head rejected") }
    }

    @Test func contentLengthOverTheLimitGives413BeforeTheBody() {
        let limits = HTTPParser.Limits(maxBodyBytes: 100)
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", limits: limits)
            == [.error(.contentTooLarge, status: 413)])
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits: limits)
            == [.error(.contentTooLarge, status: 413)])
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + String(repeating: "z", count: 100),
                      limits: limits).count == 1)
    }

    @Test func chunkedTotalOverTheLimitGives413() {
        let limits = HTTPParser.Limits(maxBodyBytes: 100)
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        let sixty = "3c\r\n" + String(repeating: "a", count: 60) + "\r\n"
        #expect(parse(head + sixty + sixty, limits: limits) == [.error(.contentTooLarge, status: 413)])
        #expect(parse(head + "FFFFFFFFFFFFFFFFFFFFFFFF\r\n", limits: limits) == [.error(.contentTooLarge, status: 413)])
        #expect(parse(head + sixty + "28\r\n" + String(repeating: "b", count: 40) + "\r\n0\r\n\r\n", limits: limits).count == 1)
    }

    @Test(arguments: [
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", HTTPParseError.Code.malformedRequestLine),
        ("GET /\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET / http/1.1\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET /a\u{7F}b HTTP/1.1\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET noslash HTTP/1.1\r\nHost: x\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1\rHost: x\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\nHo\"st: x\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{01}b\r\n\r\n", .malformedHeader),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", .malformedHeader),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\u{01}\r\nabc\r\n0\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: 1\r\n\r\n", .malformedHeader),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .conflictingFraming),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n", .conflictingFraming),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming),
        ("GET / HTTP/1.1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .invalidHost),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", .unsupportedTransferEncoding),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/0.9\r\nHost: x\r\n\r\n", .unsupportedVersion),
        ("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", .expectationFailed),
    ])
    func rejectsMalformedInput(text: String, code: HTTPParseError.Code) {
        let events = parse(text)
        #expect(events.count == 1)
        guard case .error(let got, let status) = events.last else {
            Issue.record("accepted \(text.debugDescription): \(events)")
            return
        }
        #expect(got == code, "\(text.debugDescription)")
        #expect(status == HTTPParseError(code, "").status.code)
        #expect(HTTPParseError(code, "").closeConnection)
    }

    @Test func statusCodesForEachErrorFamily() {
        #expect(HTTPParseError(.malformedHeader, "").status.code == 400)
        #expect(HTTPParseError(.conflictingFraming, "").status.code == 400)
        #expect(HTTPParseError(.unsupportedTransferEncoding, "").status.code == 501)
        #expect(HTTPParseError(.unsupportedVersion, "").status.code == 505)
        #expect(HTTPParseError(.contentTooLarge, "").status.code == 413)
        #expect(HTTPParseError(.headerFieldsTooLarge, "").status.code == 431)
    }

    @Test func identicalDuplicateContentLengthsAreAccepted() {
        let events = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")
        guard case .request(let r) = events.first else { Issue.record("\(events)"); return }
        #expect(r.body == Array("abc".utf8))
    }

    @Test func failureIsStickyAndDropsInput() {
        var parser = HTTPParser()
        guard case .error = parser.feed(Array("BAD\r\n\r\n".utf8)) else { Issue.record("accepted"); return }
        parser.append(Array(Self.get.utf8))
        #expect(parser.bufferedByteCount == 0)
        guard case .error = parser.next() else { Issue.record("recovered"); return }
    }

    @Test func chunkSizeLineIsBounded() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;"
        var parser = HTTPParser()
        parser.append(Array(head.utf8))
        var result = parser.next()
        for _ in 0..<100 {
            parser.append(Array(repeating: UInt8(ascii: "e"), count: 100))
            result = parser.next()
            if case .error = result { break }
        }
        guard case .error(let error) = result else { Issue.record("unbounded chunk line"); return }
        #expect(error.code == .malformedChunk)
    }

    @Test func stateReportsIdleAndBody() {
        var parser = HTTPParser()
        #expect(parser.isIdle)
        parser.append(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab".utf8))
        guard case .needMoreData = parser.next() else { Issue.record("expected needMoreData"); return }
        #expect(!parser.isIdle && parser.isReadingBody)
        parser.append(Array("cdGET".utf8))
        guard case .request = parser.next() else { Issue.record("expected request"); return }
        guard case .needMoreData = parser.next() else { Issue.record("expected needMoreData"); return }
        #expect(!parser.isIdle && !parser.isReadingBody)
    }

    /// Valid requests with random byte edits, fed in random pieces: no trap, bounded buffering, and
    /// once failed the parser stays failed.
    @Test func survivesMutatedRequests() {
        var random = SeededGenerator(seed: 42)
        let limits = HTTPParser.Limits(maxHeaderBytes: 1024, maxBodyBytes: 2048)
        let seeds = [Self.get, Self.post, Self.chunked].map { Array($0.utf8) }
        var outcomes = [0, 0, 0]
        for _ in 0..<3000 {
            var bytes = seeds.randomElement(using: &random)! + seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                default: bytes.remove(at: at)
                }
            }
            var parser = HTTPParser(limits: limits)
            var offset = 0
            var failed = false
            while offset < bytes.count {
                let n = min(Int.random(in: 1...64, using: &random), bytes.count - offset)
                parser.append(bytes[offset..<(offset + n)])
                offset += n
                actions: for _ in 0..<100 {
                    switch parser.next() {
                    case .needMoreData: break actions
                    case .sendContinue: continue
                    case .request: outcomes[0] += 1
                    case .error:
                        failed = true
                        break actions
                    }
                }
                #expect(parser.bufferedByteCount <= limits.maxHeaderBytes + HTTPParser.maxChunkLineBytes + 64)
            }
            if failed {
                outcomes[1] += 1
                guard case .error = parser.next() else { Issue.record("failure not sticky"); return }
            } else {
                outcomes[2] += 1
            }
        }
        // Both paths are exercised.
        #expect(outcomes[0] > 100 && outcomes[1] > 100)
    }

    /// Arbitrary bytes must never trap and never grow the buffer past the limits.
    @Test func survivesRandomInput() {
        var random = SeededGenerator(seed: 0x5EED)
        let limits = HTTPParser.Limits(maxHeaderBytes: 2048, maxBodyBytes: 4096)
        let alphabet = Array("GET POST / HTTP/1.1\r\n: chunked Transfer-Encoding Content-Length 0123456789abcdef;\t".utf8)
        for round in 0..<300 {
            var parser = HTTPParser(limits: limits)
            let prefix = round % 3 == 0 ? Array("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) : []
            parser.append(prefix)
            for _ in 0..<40 {
                let length = Int.random(in: 0...300, using: &random)
                let bytes = (0..<length).map { _ in
                    Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                }
                parser.append(bytes)
                var steps = 0
                actions: while steps < 1000 {
                    steps += 1
                    switch parser.next() {
                    case .needMoreData, .error: break actions
                    case .request, .sendContinue: continue
                    }
                }
                #expect(steps < 1000)
                #expect(parser.bufferedByteCount <= limits.maxHeaderBytes + HTTPParser.maxChunkLineBytes + 301)
            }
        }
    }
}
