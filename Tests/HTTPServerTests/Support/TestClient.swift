#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HTTPServer

/// A tiny blocking HTTP/1.1 client over a loopback socket, for end-to-end tests.
/// Every wait is bounded by `timeout` seconds.
final class TestClient {
    struct Response {
        var status: Int
        var reason: String
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let fd: Int32
    let timeout: Double
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`.
    init(port: Int, timeout: Double = 10) throws {
        self.timeout = timeout
        // `fd` is assigned only once connected: a throwing init that had set every stored property
        // would run deinit, closing the descriptor a second time.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure(description: "connect failed: \(String(cString: strerror(code)))")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream. Throws on timeout or error.
    @discardableResult
    private func fill(deadline: Double) throws -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let remaining = deadline - Date().timeIntervalSince1970
        guard remaining > 0 else { throw Failure(description: "timed out waiting for data") }
        let ready = poll(&pfd, 1, Int32(remaining * 1000) + 1)
        guard ready > 0 else { throw Failure(description: "timed out waiting for data") }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw Failure(description: "read failed: \(String(cString: strerror(errno)))") }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Reads one response. `head` means the request was HEAD (no body follows).
    func readResponse(head: Bool = false) throws -> Response {
        let deadline = Date().timeIntervalSince1970 + timeout
        var end: Int?
        while end == nil {
            end = headEnd()
            if end == nil {
                guard try fill(deadline: deadline) else { throw Failure(description: "connection closed before a response") }
            }
        }
        let headEnd = end!
        let text = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failure(description: "bad status line in \(text)")
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        buffer.removeFirst(headEnd)
        var response = Response(status: status, reason: statusLine.count > 2 ? statusLine[2] : "", headers: headers, body: [])
        let length = head || status < 200 || status == 204 || status == 304 ? 0 : Int(response.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length {
            guard try fill(deadline: deadline) else { throw Failure(description: "connection closed inside a body") }
        }
        response.body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return response
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// True if the server closes the connection (EOF or reset) within `within` seconds with no
    /// further bytes; bytes that arrive first are kept for `readResponse`.
    func waitForClose(within: Double = 10) -> Bool {
        let deadline = Date().timeIntervalSince1970 + within
        while Date().timeIntervalSince1970 < deadline {
            do {
                if try !fill(deadline: deadline) { return true }
            } catch {
                return (error as? Failure)?.description.hasPrefix("read failed") ?? false
            }
        }
        return false
    }

    /// True if nothing arrives and the connection stays open for `seconds`.
    func staysOpen(for seconds: Double) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, Int32(seconds * 1000)) == 0
    }

    /// Sends a request and reads its response.
    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) throws -> Response {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n"
        if let body { text += body }
        try send(text)
        return try readResponse(head: method == "HEAD")
    }
}

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().timeIntervalSince1970 + seconds
    while Date().timeIntervalSince1970 < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
