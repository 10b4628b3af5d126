#if canImport(Glibc)
import Glibc
#endif

/// An incremental HTTP/1.0 and HTTP/1.1 request parser (RFC 9112): a plain state machine with no I/O.
///
/// Bytes go in with `append(_:)`; `next()` returns what the connection should do. One call to
/// `next()` yields at most one request, so pipelined requests come out one at a time, in order:
///
///     parser.append(bytesFromSocket)
///     loop: switch parser.next() {
///     case .needMoreData: read more
///     case .sendContinue: write "HTTP/1.1 100 Continue", then call next() again
///     case .request(let request, let keepAlive): answer it, then call next() again
///     case .error(let error): answer error.status and close
///     }
///
/// Memory is bounded: the head is limited to `maxHeaderBytes`, the body to `maxBodyBytes`, a chunk-size
/// line to `maxChunkLineBytes`, and unconsumed input is compacted. After an error the parser stays
/// failed and drops further input.
public struct HTTPParser: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Request line plus header fields, including line ends (trailers have the same budget).
        public let maxHeaderBytes: Int
        /// Body bytes after removing chunked framing.
        public let maxBodyBytes: Int

        /// Values are clamped to 64 B...1 GiB for the head and 0...2^62 for the body.
        public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 64 * 1024 * 1024) {
            self.maxHeaderBytes = min(max(maxHeaderBytes, 64), 1 << 30)
            self.maxBodyBytes = min(max(maxBodyBytes, 0), 1 << 62)
        }
    }

    public enum Action: Sendable {
        /// Everything buffered was consumed; append more input.
        case needMoreData
        /// The client sent `Expect: 100-continue` and waits: write `HTTP/1.1 100 Continue\r\n\r\n`.
        case sendContinue
        /// A complete request. `keepAlive` is false when the connection must close after the response.
        case request(HTTPRequest, keepAlive: Bool)
        /// The input is not acceptable; answer `error.status` and close the connection.
        case error(HTTPParseError)
    }

    /// Longest chunk-size line accepted, extensions included.
    public static let maxChunkLineBytes = 4096
    /// Input capacity kept between requests; larger buffers are released once drained, so that an
    /// idle connection holds little memory.
    static let retainedCapacity = 4 * 1024
    /// Body capacity reserved up front at most, so a large `Content-Length` alone costs no memory.
    static let maxInitialBodyReservation = 256 * 1024

    enum State: Sendable, Equatable {
        case head, fixedBody, chunkSize, chunkData, chunkDataEnd, trailers, failed
    }

    public let limits: Limits
    /// Received bytes not yet consumed start at `cursor`.
    var input: [UInt8] = []
    var cursor = 0
    var state = State.head
    /// For line scanning (head, trailers, chunk-size line): offsets from `cursor` of the current
    /// line's start and of the first byte not yet examined, so every byte is examined once.
    var lineStart = 0
    var scanned = 0
    /// The request being assembled: head fields once parsed, then the body.
    var request = HTTPParser.emptyRequest()
    var keepAlive = true
    /// Bytes still expected for the fixed-length body or the current chunk.
    var remaining = 0
    /// Chunked body bytes so far.
    var chunkedTotal = 0
    var failure = HTTPParseError(.malformedRequestLine, "parser failed")

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Bytes received but not yet consumed.
    public var bufferedByteCount: Int { input.count - cursor }

    /// Memory the parser holds: its input buffer and the body being assembled (capacity, since a
    /// body's capacity is reserved from its `Content-Length`).
    public var retainedByteCount: Int { input.capacity + request.body.capacity }

    /// True between requests: nothing of the next request has arrived.
    public var isIdle: Bool { state == .head && cursor == input.count }

    /// True once a request head is complete and its body is still arriving.
    public var isReadingBody: Bool {
        switch state {
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers: true
        case .head, .failed: false
        }
    }

    /// Appends `bytes` and returns the first action (see `next()`).
    public mutating func feed(_ bytes: some Collection<UInt8>) -> Action {
        append(bytes)
        return next()
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { append($0) }
        }
    }

    /// Appends received bytes. Body bytes are copied straight into the body when nothing else is buffered.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard state != .failed, !bytes.isEmpty else { return }
        var rest = bytes
        if cursor == input.count {
            if cursor != 0 || input.capacity > Self.retainedCapacity {
                input.removeAll(keepingCapacity: input.capacity <= Self.retainedCapacity)
                cursor = 0
            }
            if (state == .fixedBody || state == .chunkData) && remaining > 0 {
                let n = min(remaining, rest.count)
                request.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<n]))
                remaining -= n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                if rest.isEmpty { return }
            }
        } else if cursor >= 4096 && cursor >= input.count / 2 {
            input.removeSubrange(0..<cursor)
            cursor = 0
        }
        input.append(contentsOf: rest)
    }

    /// The next action for the bytes buffered so far.
    public mutating func next() -> Action {
        switch step() {
        case .needMoreData: .needMoreData
        case .sendContinue: .sendContinue
        case .request(let keepAlive): .request(takeRequest(), keepAlive: keepAlive)
        case .error(let error): .error(error)
        }
    }

    /// `Action` without the request, which `takeRequest()` then moves out: the server's loop
    /// takes it without the copy and release that unpacking an enum payload costs.
    enum Step {
        case needMoreData
        case sendContinue
        case request(keepAlive: Bool)
        case error(HTTPParseError)
    }

    mutating func step() -> Step {
        while true {
            switch state {
            case .failed:
                return .error(failure)
            case .head:
                skipLeadingLineBreaks()
                switch scanSection(limit: limits.maxHeaderBytes) {
                case .needMore:
                    return .needMoreData
                case .tooLarge:
                    return fail(.headerFieldsTooLarge, "request head exceeds \(limits.maxHeaderBytes) bytes")
                case .found(let end):
                    let bytes = input
                    let start = cursor
                    let parsed = bytes.withUnsafeBufferPointer {
                        HTTPParser.parseHead(UnsafeBufferPointer(rebasing: $0[start..<end]), limits: limits, into: &request)
                    }
                    cursor = end
                    lineStart = 0
                    scanned = 0
                    switch parsed {
                    case .failure(let error):
                        return fail(error)
                    case .success(let info):
                        keepAlive = info.keepAlive
                        switch info.framing {
                        case .none:
                            return complete()
                        case .length(let length):
                            remaining = length
                            request.body.reserveCapacity(min(length, Self.maxInitialBodyReservation))
                            state = .fixedBody
                        case .chunked:
                            chunkedTotal = 0
                            state = .chunkSize
                        }
                        if info.expectContinue && cursor == input.count {
                            return .sendContinue
                        }
                    }
                }
            case .fixedBody:
                takeBodyBytes()
                if remaining > 0 { return .needMoreData }
                return complete()
            case .chunkSize:
                if let action = parseChunkSizeLine() { return action }
            case .chunkData:
                takeBodyBytes()
                if remaining > 0 { return .needMoreData }
                state = .chunkDataEnd
            case .chunkDataEnd:
                let available = input.count - cursor
                guard available > 0 else { return .needMoreData }
                let first = input[cursor]
                if first == .lf {
                    cursor += 1
                } else if first == .cr {
                    guard available > 1 else { return .needMoreData }
                    guard input[cursor + 1] == .lf else { return fail(.malformedChunk, "chunk data not followed by CRLF") }
                    cursor += 2
                } else {
                    return fail(.malformedChunk, "chunk data longer than its chunk size")
                }
                state = .chunkSize
            case .trailers:
                switch scanSection(limit: limits.maxHeaderBytes) {
                case .needMore:
                    return .needMoreData
                case .tooLarge:
                    return fail(.headerFieldsTooLarge, "trailer fields exceed \(limits.maxHeaderBytes) bytes")
                case .found(let end):
                    let valid = input.withUnsafeBufferPointer {
                        HTTPParser.validateTrailers(UnsafeBufferPointer(rebasing: $0[cursor..<end]))
                    }
                    guard valid else { return fail(.malformedHeader, "malformed trailer field") }
                    cursor = end
                    return complete()
                }
            }
        }
    }

    // MARK: - Steps

    private mutating func fail(_ code: HTTPParseError.Code, _ message: String) -> Step {
        fail(HTTPParseError(code, message))
    }

    private mutating func fail(_ error: HTTPParseError) -> Step {
        failure = error
        state = .failed
        input = []
        cursor = 0
        request = HTTPParser.emptyRequest()
        return .error(error)
    }

    /// The request is complete in `request`, for `takeRequest()`.
    private mutating func complete() -> Step {
        releaseDrainedInput()
        state = .head
        lineStart = 0
        scanned = 0
        remaining = 0
        chunkedTotal = 0
        return .request(keepAlive: keepAlive)
    }

    /// Moves out the request `step()` completed; called before the next `step()`.
    mutating func takeRequest() -> HTTPRequest {
        var finished = HTTPParser.emptyRequest()
        swap(&finished, &request)
        return finished
    }

    static func emptyRequest() -> HTTPRequest { HTTPRequest(method: .GET, path: "", headers: HTTPHeaders()) }

    private mutating func takeBodyBytes() {
        let n = min(input.count - cursor, remaining)
        guard n > 0 else { return }
        request.body.append(contentsOf: input[cursor..<(cursor + n)])
        cursor += n
        remaining -= n
        releaseDrainedInput()
    }

    /// A large input buffer whose bytes were all consumed (a read that carried a head and much of
    /// a body) is freed now rather than at the next read, which may be long in coming.
    @inline(__always) private mutating func releaseDrainedInput() {
        if cursor == input.count && input.capacity > Self.retainedCapacity {
            input = []
            cursor = 0
        }
    }

    /// RFC 9112 §2.2: a server should ignore empty lines received before the request line.
    private mutating func skipLeadingLineBreaks() {
        guard scanned == 0 else { return }
        while cursor < input.count && (input[cursor] == .cr || input[cursor] == .lf) { cursor += 1 }
    }

    enum ScanResult { case needMore, tooLarge, found(Int) }

    /// Looks for the empty line ending a field section starting at `cursor`; returns the index after it.
    /// Lines end in LF, optionally preceded by CR (RFC 9112 §2.2 allows a bare LF).
    private mutating func scanSection(limit: Int) -> ScanResult {
        let base = cursor
        var line = base + lineStart
        var index = base + scanned
        var found = -1
        input.withUnsafeBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return }
            let end = min(buffer.count, base + limit + 1)
            while index < end {
                // From line feed to line feed with memchr (vectorised), not byte by byte.
                guard let lf = memchr(start + index, Int32(UInt8.lf), end - index) else {
                    index = end
                    return
                }
                index = UnsafeRawPointer(lf) - UnsafeRawPointer(start)
                let contentEnd = index > line && buffer[index - 1] == .cr ? index - 1 : index
                if contentEnd == line {
                    found = index + 1
                    return
                }
                line = index + 1
                index += 1
            }
        }
        if found >= 0 {
            return found - base > limit ? .tooLarge : .found(found)
        }
        lineStart = line - base
        scanned = index - base
        return scanned > limit ? .tooLarge : .needMore
    }

    /// Parses `1*HEXDIG [ext] CRLF`; returns an action, or nil to keep going.
    private mutating func parseChunkSizeLine() -> Step? {
        let base = cursor
        var lf = -1
        var index = base + scanned
        input.withUnsafeBufferPointer { buffer in
            let end = min(buffer.count, base + HTTPParser.maxChunkLineBytes + 1)
            while index < end {
                if buffer[index] == .lf { lf = index; return }
                index += 1
            }
        }
        guard lf >= 0 else {
            scanned = index - base
            if scanned > HTTPParser.maxChunkLineBytes { return fail(.malformedChunk, "chunk-size line too long") }
            return .needMoreData
        }
        let size = input.withUnsafeBufferPointer {
            HTTPParser.parseChunkSize(UnsafeBufferPointer(rebasing: $0[base..<lf]), limit: limits.maxBodyBytes)
        }
        cursor = lf + 1
        scanned = 0
        switch size {
        case .malformed:
            return fail(.malformedChunk, "malformed chunk-size line")
        case .tooLarge:
            return fail(.contentTooLarge, "chunked body exceeds \(limits.maxBodyBytes) bytes")
        case .size(let n):
            if n == 0 {
                state = .trailers
                lineStart = 0
                return nil
            }
            guard n <= limits.maxBodyBytes - chunkedTotal else {
                return fail(.contentTooLarge, "chunked body exceeds \(limits.maxBodyBytes) bytes")
            }
            chunkedTotal += n
            remaining = n
            state = .chunkData
            return nil
        }
    }
}

extension UInt8 {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon: UInt8 = 58
}
