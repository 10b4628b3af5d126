#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// One client connection. Owned and touched only by its event loop's thread, which is why its hot
/// fields skip runtime exclusivity tracking (`@exclusivity(unchecked)`; static checks remain).
///
/// The `receive`/`send` calls below are the only places that touch the socket's byte stream; with
/// TLS they go through the connection's `TLSSession` (SSL_read/SSL_write over the same non-blocking fd).
final class Connection {
    enum DeadlineKind: UInt8 {
        case none
        /// Connected, nothing received yet: closed silently when it expires.
        case fresh
        /// Keep-alive, between requests: closed silently.
        case idle
        /// Request head or body incomplete: 408, then close.
        case head, body
        /// Response bytes waiting for a client that does not read: close.
        case write
        /// Half-closed after a final response, discarding input: close.
        case linger
    }

    let fd: Int32
    let slot: Int
    /// `ip:port` of the client.
    let remoteAddress: String
    @exclusivity(unchecked) var parser: HTTPParser
    /// Set when the listener serves HTTPS.
    let tls: TLSSession?
    /// Events currently registered with epoll.
    @exclusivity(unchecked) var interest: UInt32 = 0
    @exclusivity(unchecked) var closed = false

    // The request being answered (one at a time; later pipelined requests wait in the parser).
    @exclusivity(unchecked) var inFlight = false
    @exclusivity(unchecked) var serial: UInt64 = 0
    @exclusivity(unchecked) var cancellation: CancellationToken?
    /// The last request's token, when nothing else kept it: reused for the next request.
    @exclusivity(unchecked) var spareToken: CancellationToken?
    /// Where the in-flight request's response goes; reused for the next request when no
    /// completion kept it (see `ResponseAddress`).
    @exclusivity(unchecked) var responseAddress: ResponseAddress?
    @exclusivity(unchecked) var keepAlive = true
    @exclusivity(unchecked) var isHead = false
    @exclusivity(unchecked) var minorVersion = 1
    @exclusivity(unchecked) var requestID = RequestID.generated(0)

    // Output not yet accepted by the kernel.
    @exclusivity(unchecked) var pending: [[UInt8]] = []
    var pendingOffset = 0
    /// Responses encoded but not completely written; counted in `inFlightRequests` until written.
    @exclusivity(unchecked) var unsentResponses = 0
    @exclusivity(unchecked) var closeAfterWrite = false
    @exclusivity(unchecked) var lingerAfterWrite = false
    @exclusivity(unchecked) var lingering = false
    var lingerBytes = 0

    @exclusivity(unchecked) var deadline: UInt64 = 0
    @exclusivity(unchecked) var deadlineKind = DeadlineKind.none

    // Read budget (see `EventLoop+ReadBudget.swift`).
    /// Bytes this connection counts against the server's buffer budget now.
    @exclusivity(unchecked) var charged = 0
    /// Body bytes of the request being answered: still charged, since the responder holds them.
    @exclusivity(unchecked) var inFlightBytes = 0
    /// Not read (no EPOLLIN) until the budget has room again; its read deadline is suspended.
    @exclusivity(unchecked) var readPaused = false

    init(fd: Int32, slot: Int, remoteAddress: String, limits: HTTPParser.Limits, tls: TLSSession? = nil) {
        self.fd = fd
        self.tls = tls
        self.slot = slot
        self.remoteAddress = remoteAddress
        self.parser = HTTPParser(limits: limits)
    }

    func setDeadline(_ kind: DeadlineKind, at nanos: UInt64) {
        deadlineKind = kind
        deadline = kind == .none ? 0 : nanos
    }

    /// Memory held for this connection's unanswered input (received, or handed to the responder
    /// and not answered yet) and unsent output.
    var heldByteCount: Int {
        var held = parser.retainedByteCount &+ inFlightBytes
        if !pending.isEmpty {
            for chunk in pending { held += chunk.count }
            held -= pendingOffset
        }
        return held
    }

    // MARK: - Byte stream

    /// `read(2)`: bytes read, 0 at end of stream, -1 with `errno` set.
    @inline(__always) func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        if let tls { return tls.read(into: buffer) }
        return read(fd, buffer.baseAddress, buffer.count)
    }

    /// `send(2)` without SIGPIPE.
    @inline(__always) func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let tls { return tls.write(bytes) }
        return Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Gathered `sendmsg(2)` without SIGPIPE.
    func send(_ vectors: UnsafeMutableBufferPointer<iovec>) -> Int {
        if let tls {
            // One record stream: write the pieces in order, stopping at the first short write.
            var total = 0
            for vector in vectors {
                let n = tls.write(UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len))
                if n < 0 { return total > 0 ? total : -1 }
                total += n
                if n < vector.iov_len { break }
            }
            return total
        }
        var message = msghdr()
        message.msg_iov = vectors.baseAddress
        message.msg_iovlen = vectors.count
        return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
    }
}

/// Where a request's response goes: its loop, its connection's slot and its serial (a response
/// that arrives after its connection moved on is dropped). A completion closure that captures only
/// this object uses it as its context, so answering a request allocates no closure. The connection
/// reuses it for its next request when no completion still holds it.
final class ResponseAddress: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `serial` is set on the loop thread only while the connection
    // holds the only reference, before any completion can capture it.
    let loop: EventLoop
    let slot: Int
    var serial: UInt64 = 0

    init(loop: EventLoop, slot: Int) {
        self.loop = loop
        self.slot = slot
    }

    func deliver(_ response: consuming HTTPResponse) {
        loop.post(slot: slot, serial: serial, response: response)
    }
}
