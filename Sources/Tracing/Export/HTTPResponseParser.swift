import TelemetryCore

/// The status line and headers of an HTTP/1.1 response.
struct HTTPResponseHead: Sendable, Equatable {
    var status: Int
    var headers: [Header]
    /// False when the server will close the connection after this response.
    var keepAlive: Bool

    struct Header: Sendable, Equatable {
        var name: String
        var value: String
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
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
        var i = 0
        while i < bytes.count {
            switch state {
            case .head:
                line.append(bytes[i])
                i += 1
                if line.count > HTTPResponseParser.maxHeadBytes { return .failed("response head too large") }
                if line.count >= 4, line[line.count - 4..<line.count].elementsEqual([13, 10, 13, 10]) {
                    switch parseHead(line) {
                    case .failure(let failure): return .failed(failure.message)
                    case .success(let head):
                        line.removeAll(keepingCapacity: true)
                        if (100..<200).contains(head.status) { continue }  // interim response
                        response = head
                        let length = head.header("content-length").flatMap { Int($0.trimmingSpaces) }
                        let chunked = head.header("transfer-encoding")?.lowercased().contains("chunked") ?? false
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

    private func parseHead(_ bytes: [UInt8]) -> Result<HTTPResponseHead, ParseFailure> {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return .failure(ParseFailure("empty response head")) }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status)
        else { return .failure(ParseFailure("bad status line")) }
        var headers: [HTTPResponseHead.Header] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .failure(ParseFailure("bad header line")) }
            headers.append(.init(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingSpaces))
        }
        var head = HTTPResponseHead(status: status, headers: headers, keepAlive: parts[0] != "HTTP/1.0")
        if let connection = head.header("connection")?.lowercased() {
            if connection.contains("close") { head.keepAlive = false }
            if connection.contains("keep-alive") { head.keepAlive = true }
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
