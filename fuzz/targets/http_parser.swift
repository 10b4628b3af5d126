// libFuzzer target: the HTTP/1.1 request parser (HTTPServer), fed the way an event loop feeds it.
// Input: byte 0 picks the size of the pieces the rest arrives in (1...256 bytes), byte 1 the
// limits; the rest is the byte stream of one connection.
// Checks: no crash; every request's body respects the limit; after an error the parser stays
// failed; feeding one byte at a time or all at once yields the same requests.

/// Keeps the optimiser from deleting the work (libFuzzer calls the entry point from one thread).
nonisolated(unsafe) public var fuzzSink = 0

struct Outcome: Equatable {
    var requests: [String] = []
    var error: Int?
}

func run(_ stream: UnsafeBufferPointer<UInt8>, piece: Int, limits: HTTPParser.Limits) -> Outcome {
    var parser = HTTPParser(limits: limits)
    var outcome = Outcome()
    var offset = 0
    feeding: while offset < stream.count {
        let end = min(stream.count, offset + piece)
        parser.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: stream[offset..<end])))
        offset = end
        while true {
            switch parser.next() {
            case .needMoreData:
                continue feeding
            case .sendContinue:
                outcome.requests.append("100-continue")
            case .request(let request, let keepAlive):
                require(request.body.count <= limits.maxBodyBytes, "body over the limit")
                let headers = request.headers.map { "\($0.name):\($0.value)" }.joined(separator: "|")
                outcome.requests.append("\(request.method) \(request.path) \(request.query ?? "-") 1.\(request.minorVersion) "
                                        + "\(keepAlive) \(headers) \(request.body.count):\(request.body.reduce(0) { $0 &* 31 &+ Int($1) })")
            case .error(let error):
                require(parser.bufferedByteCount == 0, "a failed parser keeps input")
                if case .error(let again) = parser.next() { require(again == error, "failure changed") }
                else { fatalError("parser recovered after an error") }
                outcome.error = error.status.code
                break feeding
            }
        }
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let piece = Int(data[0]) + 1
    let limits = data[1] & 1 == 0
        ? HTTPParser.Limits(maxHeaderBytes: 512, maxBodyBytes: 1024)
        : HTTPParser.Limits()
    let stream = UnsafeBufferPointer(start: data + 2, count: size - 2)
    let chunked = run(stream, piece: piece, limits: limits)
    let whole = run(stream, piece: max(stream.count, 1), limits: limits)
    // "100-continue" depends on what has arrived so far; compare the rest.
    require(chunked.requests.filter { $0 != "100-continue" } == whole.requests.filter { $0 != "100-continue" }
                 && chunked.error == whole.error, "the result depends on how the input was split")
    fuzzSink &+= chunked.requests.count &+ (chunked.error ?? 0)
    return 0
}

/// Like `precondition`, but the message survives -O (libFuzzer then prints it with the crash).
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
