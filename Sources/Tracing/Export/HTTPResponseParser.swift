import TelemetryCore

/// The status line and headers of an HTTP/1.1 response.
struct HTTPResponseHead: Sendable, Equatable {
    var status: Int
    var headers: [Header]
    /// False when the server will close the connection after this response.
    var keepAlive: Bool

    struct Header: Sendable, Equatable {
        /// Lowercase.
        var name: String
        var value: String
    }

    /// The value of the first header named `name` (any case).
    func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.name == key }?.value
    }
}

/// An incremental HTTP/1.1 response parser: feed bytes as they arrive, act on the result.
/// It reads (and discards) the body so the connection can be reused.
struct HTTPResponseParser {
    enum Action: Equatable {
        case needMore
        case complete(HTTPResponseHead)
        case failed(String)
    }

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    static let maxHeadBytes = 64 * 1024

    private var state = State.head
    private var line: [UInt8] = []
    private var response: HTTPResponseHead?

    init() {}

    mutating func feed(_ bytes: [UInt8]) -> Action {
        bytes.withUnsafeBufferPointer { feed($0) }
    }

    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) -> Action {
        var i = 0
        while i < bytes.count {
            switch state {
            case .head:
                // The chunk is appended whole and searched where it joins what came before; bytes
                // past the head are then handed to the states that follow.
                let before = line.count
                line.append(contentsOf: bytes[i...])
                guard let end = HTTPResponseParser.endOfHead(line, searchingFrom: max(0, before - 3)) else {
                    if line.count > HTTPResponseParser.maxHeadBytes { return .failed("response head too large") }
                    i = bytes.count
                    continue
                }
                if end > HTTPResponseParser.maxHeadBytes { return .failed("response head too large") }
                i += end - before
                let parsed = HTTPResponseParser.parseHead(line[..<end])
                line.removeAll(keepingCapacity: true)
                switch parsed {
                case .failure(let failure): return .failed(failure.message)
                case .success(let head):
                    if (100..<200).contains(head.status) { continue }  // interim response
                    response = head
                    let length = head.header("content-length").flatMap { Int($0) }
                    let chunked = head.header("transfer-encoding").map { HeaderList.contains($0, "chunked") } ?? false
                    if head.status == 204 || head.status == 304 {
                        state = .done
                    } else if chunked {
                        state = .chunkSize
                    } else if let length {
                        guard length >= 0 else { return .failed("negative Content-Length") }
                        state = length == 0 ? .done : .fixedBody(remaining: length)
                    } else {
                        state = .untilClose
                        response!.keepAlive = false
                    }
                }
            case .fixedBody(let remaining):
                let take = min(remaining, bytes.count - i)
                i += take
                state = remaining - take == 0 ? .done : .fixedBody(remaining: remaining - take)
            case .chunkSize:
                let byte = bytes[i]
                i += 1
                if byte == 10 {
                    var text = String(decoding: line, as: UTF8.self)
                    line.removeAll(keepingCapacity: true)
                    if let semicolon = text.firstIndex(of: ";") { text = String(text[..<semicolon]) }
                    guard let size = Int(text.trimmingSpaces.replacingCR, radix: 16), size >= 0 else {
                        return .failed("bad chunk size")
                    }
                    state = size == 0 ? .trailers : .chunkData(remaining: size)
                } else {
                    line.append(byte)
                    if line.count > 1024 { return .failed("chunk size line too long") }
                }
            case .chunkData(let remaining):
                let take = min(remaining, bytes.count - i)
                i += take
                state = remaining - take == 0 ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                let byte = bytes[i]
                i += 1
                if byte == 10 { state = .chunkSize } else if byte != 13 { return .failed("chunk not followed by CRLF") }
            case .trailers:
                let byte = bytes[i]
                i += 1
                if byte == 10 {
                    let empty = line.isEmpty || line == [13]
                    line.removeAll(keepingCapacity: true)
                    if empty { state = .done }
                } else {
                    line.append(byte)
                    if line.count > HTTPResponseParser.maxHeadBytes { return .failed("trailers too large") }
                }
            case .untilClose:
                i = bytes.count
            case .done:
                i = bytes.count  // bytes after a complete response: the connection is not reused
                response?.keepAlive = false
            }
        }
        if case .done = state, let response { return .complete(response) }
        return .needMore
    }

    /// The peer closed the connection.
    mutating func feedEndOfStream() -> Action {
        switch state {
        case .untilClose, .done:
            if let response { return .complete(response) }
            return .failed("connection closed before a response")
        case .head:
            return .failed(line.isEmpty ? "connection closed before a response" : "connection closed in the response head")
        default:
            return .failed("connection closed in the response body")
        }
    }

    /// Where the head ends (just past its CR LF CR LF), looking from `start`.
    static func endOfHead(_ bytes: [UInt8], searchingFrom start: Int) -> Int? {
        var i = start
        while i + 3 < bytes.count {
            if bytes[i + 3] != 10 {
                i += bytes[i + 3] == 13 ? 1 : 4  // no LF here: the terminator cannot end before i + 4
            } else if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 {
                return i + 4
            } else {
                i += 1
            }
        }
        return nil
    }

    /// The status line and header lines (each ending in CR LF), read as bytes: header names are
    /// lowercased, values trimmed of spaces and tabs.
    static func parseHead(_ bytes: ArraySlice<UInt8>) -> Result<HTTPResponseHead, ParseFailure> {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        while let lf = bytes[start...].firstIndex(of: 10) {
            let end = lf > start && bytes[lf - 1] == 13 ? lf - 1 : lf
            if end > start { lines.append(bytes[start..<end]) }
            start = lf + 1
        }
        guard let statusLine = lines.first else { return .failure(ParseFailure("empty response head")) }
        // "HTTP/1.x NNN reason"
        let version = Array("HTTP/1.".utf8)
        guard statusLine.count >= 12, statusLine.prefix(7).elementsEqual(version),
              statusLine[statusLine.startIndex + 8] == 32,
              let status = Int(String(decoding: statusLine.dropFirst(9).prefix(3), as: UTF8.self)),
              (100...999).contains(status), statusLine.count == 12 || statusLine[statusLine.startIndex + 12] == 32
        else { return .failure(ParseFailure("bad status line")) }
        var headers: [HTTPResponseHead.Header] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 58), colon > line.startIndex else {
                return .failure(ParseFailure("bad header line"))
            }
            let name = line[..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 32 || first == 9 { value.removeFirst() }
            while let last = value.last, last == 32 || last == 9 { value.removeLast() }
            headers.append(.init(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
        }
        var head = HTTPResponseHead(status: status, headers: headers,
                                    keepAlive: statusLine[statusLine.startIndex + 7] != UInt8(ascii: "0"))
        if let connection = head.header("connection") {
            // `close` wins: the server closes after this response, whatever else it lists.
            if HeaderList.contains(connection, "keep-alive") { head.keepAlive = true }
            if HeaderList.contains(connection, "close") { head.keepAlive = false }
        }
        return .success(head)
    }

    struct ParseFailure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}

private extension String {
    var replacingCR: String { filter { $0 != "\r" } }
}
