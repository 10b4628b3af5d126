#if canImport(Glibc)
import Glibc
#endif
import TelemetryCore

/// An `http://` URL split for a socket client.
struct HTTPURL: Sendable, Equatable {
    var host: String
    var port: UInt16
    /// Path and query, starting with `/`.
    var path: String

    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? bracketed : "\(bracketed):\(port)"
    }

    init(host: String, port: UInt16, path: String) {
        self.host = host
        self.port = port
        self.path = path
    }

    init(_ string: String) throws(HTTPClientError) {
        let trimmed = string.trimmingSpaces
        let lower = trimmed.lowercased()
        if lower.hasPrefix("https://") {
            throw HTTPClientError(.unsupportedScheme, "https is not supported by this exporter (\(trimmed)); "
                                  + "send to a local collector or sidecar over http:// and let it forward with TLS")
        }
        guard lower.hasPrefix("http://") else {
            throw HTTPClientError(.invalidURL, "'\(trimmed)' is not an http:// URL")
        }
        var rest = Substring(trimmed.dropFirst(7))
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw HTTPClientError(.invalidURL, "'\(trimmed)' has an unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw HTTPClientError(.invalidURL, "'\(trimmed)' has no host") }
        var port: UInt16 = 80
        if let portText, !portText.isEmpty {
            guard let p = UInt16(portText), p > 0 else { throw HTTPClientError(.invalidURL, "'\(trimmed)' has a bad port") }
            port = p
        }
        self.host = String(host)
        self.port = port
        var path = String(rest)
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        self.path = path
    }
}

/// Why an HTTP exchange failed.
struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case invalidURL, unsupportedScheme, resolve, connect, timeout, send, receive, malformedResponse
    }

    let kind: Kind
    let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String { message }
}

/// A minimal blocking HTTP/1.1 client over one keep-alive TCP connection, with a hard deadline
/// per request (connect, send and receive all poll against it). It runs only on background
/// threads (the span processor's), never on a request thread. Not thread-safe: the owner
/// serialises calls.
final class BlockingHTTPClient {
    let url: HTTPURL
    private var fd: Int32 = -1
    /// Responses are read into this, allocated once.
    private let receiveBuffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 16 * 1024)

    init(url: HTTPURL) { self.url = url }

    deinit {
        close()
        receiveBuffer.deallocate()
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Sends `POST url.path` with the concatenation of `body`'s parts (gathered by `sendmsg`, not
    /// copied) and reads the whole response. DNS resolution (getaddrinfo) is the one step that
    /// cannot be bounded by the deadline.
    func post(body: [UnsafeRawBufferPointer], headers: [(String, String)],
              timeoutNanoseconds: UInt64) throws(HTTPClientError) -> HTTPResponseHead {
        let bodyLength = body.reduce(0) { $0 + $1.count }
        let deadline = SystemClock.monotonicNanoseconds() &+ timeoutNanoseconds
        var head: [UInt8] = []
        head.reserveCapacity(512)
        head.appendUTF8("POST \(url.path) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n")
        for (name, value) in headers where HTTPClientHeaders.isSafe(name, value) {
            head.appendUTF8("\(name): \(value)\r\n")
        }
        head.appendUTF8("Content-Length: \(bodyLength)\r\n\r\n")

        let reused = fd >= 0
        do {
            if fd < 0 { try connect(deadline: deadline) }
            return try exchange(head, body, deadline: deadline)
        } catch where reused && error.kind != .timeout {
            // The server may have closed an idle keep-alive connection; retry once on a new one.
            close()
            try connect(deadline: deadline)
            return try exchange(head, body, deadline: deadline)
        }
    }

    private func exchange(_ head: [UInt8], _ body: [UnsafeRawBufferPointer], deadline: UInt64) throws(HTTPClientError) -> HTTPResponseHead {
        do {
            try head.withUnsafeBytes { head in
                Result { () throws(HTTPClientError) in try sendAll([head] + body, deadline: deadline) }
            }.get()
            let head = try readResponse(deadline: deadline)
            if !head.keepAlive { close() }
            return head
        } catch {
            close()
            throw error
        }
    }

    private func connect(deadline: UInt64) throws(HTTPClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw HTTPClientError(.resolve, "cannot resolve \(url.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = HTTPClientError(.connect, "no address for \(url.host)")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let socketFD = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
            if socketFD < 0 { continue }
            var one: Int32 = 1
            setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                fd = socketFD
                return
            }
            let err = errno
            if err == EINPROGRESS {
                switch waitFor(socketFD, events: Int16(POLLOUT), deadline: deadline) {
                case .ready:
                    var soError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(socketFD, SOL_SOCKET, SO_ERROR, &soError, &length)
                    if soError == 0 {
                        fd = socketFD
                        return
                    }
                    lastError = HTTPClientError(.connect, "connect to \(url.hostHeader): \(String(cString: strerror(soError)))")
                case .timedOut:
                    Glibc.close(socketFD)
                    throw HTTPClientError(.timeout, "connect to \(url.hostHeader) timed out")
                case .failed(let e):
                    lastError = HTTPClientError(.connect, "connect to \(url.hostHeader): \(String(cString: strerror(e)))")
                }
            } else {
                lastError = HTTPClientError(.connect, "connect to \(url.hostHeader): \(String(cString: strerror(err)))")
            }
            Glibc.close(socketFD)
        }
        throw lastError
    }

    /// Sends `parts` one after another, gathered by `sendmsg` (nothing is copied to join them).
    private func sendAll(_ parts: [UnsafeRawBufferPointer], deadline: UInt64) throws(HTTPClientError) {
        let total = parts.reduce(0) { $0 + $1.count }
        var offset = 0
        while offset < total {
            let n = withUnsafeTemporaryAllocation(of: iovec.self, capacity: parts.count) { vectors in
                // The parts not yet (wholly) sent.
                var count = 0, skip = offset
                for part in parts {
                    if skip >= part.count {
                        skip -= part.count
                        continue
                    }
                    vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress! + skip),
                                           iov_len: part.count - skip)
                    count += 1
                    skip = 0
                }
                var message = msghdr()
                message.msg_iov = vectors.baseAddress
                message.msg_iovlen = count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            let err = errno
            if err == EINTR { continue }
            guard err == EAGAIN || err == EWOULDBLOCK else {
                throw HTTPClientError(.send, "send to \(url.hostHeader): \(String(cString: strerror(err)))")
            }
            switch waitFor(fd, events: Int16(POLLOUT), deadline: deadline) {
            case .ready: continue
            case .timedOut: throw HTTPClientError(.timeout, "sending to \(url.hostHeader) timed out")
            case .failed(let e): throw HTTPClientError(.send, "send to \(url.hostHeader): \(String(cString: strerror(e)))")
            }
        }
    }

    private func readResponse(deadline: UInt64) throws(HTTPClientError) -> HTTPResponseHead {
        var parser = HTTPResponseParser()
        while true {
            let n = recv(fd, receiveBuffer.baseAddress, receiveBuffer.count, 0)
            var action: HTTPResponseParser.Action
            if n > 0 {
                action = parser.feed(UnsafeBufferPointer(rebasing: receiveBuffer[..<n]))
            } else if n == 0 {
                action = parser.feedEndOfStream()
            } else {
                let err = errno
                if err == EINTR { continue }
                guard err == EAGAIN || err == EWOULDBLOCK else {
                    throw HTTPClientError(.receive, "receive from \(url.hostHeader): \(String(cString: strerror(err)))")
                }
                switch waitFor(fd, events: Int16(POLLIN), deadline: deadline) {
                case .ready: continue
                case .timedOut: throw HTTPClientError(.timeout, "waiting for \(url.hostHeader) timed out")
                case .failed(let e):
                    throw HTTPClientError(.receive, "receive from \(url.hostHeader): \(String(cString: strerror(e)))")
                }
            }
            switch action {
            case .needMore: continue
            case .complete(let head):
                if n == 0 { close() }
                return head
            case .failed(let message):
                throw HTTPClientError(n == 0 ? .receive : .malformedResponse, "\(url.hostHeader): \(message)")
            }
        }
    }

    private enum WaitResult { case ready, timedOut, failed(Int32) }

    private func waitFor(_ socketFD: Int32, events: Int16, deadline: UInt64) -> WaitResult {
        while true {
            let now = SystemClock.monotonicNanoseconds()
            if now >= deadline { return .timedOut }
            let millis = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            var pfd = pollfd(fd: socketFD, events: events, revents: 0)
            let rc = poll(&pfd, 1, millis)
            if rc > 0 { return .ready }  // errors and hang-ups surface in the next send/recv
            if rc == 0 { continue }  // re-check the deadline
            if errno == EINTR { continue }
            return .failed(errno)
        }
    }
}

enum HTTPClientHeaders {
    /// Header names must be tokens and values free of CR/LF, so configuration cannot inject
    /// extra lines into the request.
    static func isSafe(_ name: String, _ value: String) -> Bool {
        guard !name.isEmpty else { return false }
        for byte in name.utf8 {
            let isToken = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            if !isToken { return false }
        }
        return !value.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
    }
}
