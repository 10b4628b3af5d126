import Foundation
import Glibc
import Synchronization

/// A tiny blocking HTTP/1.1 server on 127.0.0.1 for exporter tests. It answers requests on
/// keep-alive connections with scripted statuses (then 200) and records what it received.
final class TestHTTPServer: Sendable {
    struct Request: Sendable {
        var requestLine: String
        var headers: [String: String]  // lowercase names
        var body: [UInt8]
    }

    let port: UInt16
    private let listener: Int32
    private let script: Mutex<[Int]>
    private let received = Mutex<[Request]>([])
    private let connections = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let readSize: Int

    /// `statuses` are answered in order, then 200. With `respond: false` the server accepts
    /// connections and reads but never answers (a hung collector). `slowReader` makes its
    /// receive buffer small and reads 1 KiB at a time, so a large body is sent a part at a time.
    init(statuses: [Int] = [], respond: Bool = true, slowReader: Bool = false) {
        script = Mutex(statuses)
        readSize = slowReader ? 1024 : 65536
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if slowReader {
            var size: Int32 = 4096
            setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: bound.sin_port)
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                connections.wrappingAdd(1, ordering: .relaxed)
                Thread { [self] in serve(client, respond: respond) }.start()
            }
        }.start()
    }

    var requests: [Request] { received.withLock { $0 } }
    var connectionCount: Int { connections.load(ordering: .relaxed) }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ fd: Int32, respond: Bool) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: readSize)
        while true {
            // Read one request head.
            var headEnd: Int?
            while headEnd == nil {
                if let range = buffer.firstRange(of: [13, 10, 13, 10]) { headEnd = range.upperBound; break }
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { return }
                buffer.append(contentsOf: chunk[0..<n])
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let requestLine = lines.removeFirst()
            var headers: [String: String] = [:]
            for line in lines {
                let parts = line.split(separator: ":", maxSplits: 1)
                headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while buffer.count < headEnd! + length {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { return }
                buffer.append(contentsOf: chunk[0..<n])
            }
            let body = Array(buffer[headEnd!..<(headEnd! + length)])
            buffer.removeFirst(headEnd! + length)
            received.withLock { $0.append(Request(requestLine: requestLine, headers: headers, body: body)) }
            guard respond else {
                while read(fd, &chunk, chunk.count) > 0 {}
                return
            }
            let status = script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            let reply = "{}"
            var response = "HTTP/1.1 \(status) Scripted\r\nContent-Type: application/json\r\nContent-Length: \(reply.utf8.count)\r\n"
            if status == 503 { response += "Retry-After: 0\r\n" }
            response += "\r\n" + reply
            let bytes = Array(response.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }
}
