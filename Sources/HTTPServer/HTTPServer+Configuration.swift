extension HTTPServer {
    /// Listening address, threads, limits and timeouts. Timeouts are in seconds.
    public struct Configuration: Sendable {
        /// Address to bind: an IPv4/IPv6 literal or a host name (`0.0.0.0`, `::`, `127.0.0.1`).
        public var host: String
        /// Port to bind; 0 picks an ephemeral port (see `HTTPServer.localPort`).
        public var port: Int
        /// Event-loop threads, each with its own epoll instance and listening socket.
        public var eventLoopCount: Int
        /// Request line plus header fields; larger heads get 431.
        public var maxHeaderBytes: Int
        /// Request body after de-chunking; larger bodies get 413 (by `Content-Length`, before reading it).
        public var maxBodyBytes: Int
        /// Time a client has to send a complete request head once it started one (or from connecting);
        /// a partial request then gets 408 and the connection is closed.
        public var headerReadTimeout: Double
        /// Time a client has to send the body once the head is complete; nil means `headerReadTimeout`.
        public var bodyReadTimeout: Double?
        /// A keep-alive connection with no request in progress is closed silently after this long.
        /// Also bounds how long a response may wait for a client that stopped reading.
        public var idleTimeout: Double
        /// Open connections accepted at once; beyond it a new connection gets 503 and is closed.
        public var maxConnections: Int
        /// Server-wide bound on bytes held for requests (heads and bodies being received, bodies the
        /// responder has not answered yet) and response bytes the kernel has not taken. When it is
        /// used up, connections are not read (TCP holds their clients back) until bytes are
        /// released; an event loop with nothing in flight lets one connection read past it, so a
        /// request as large as `maxBodyBytes` always completes. No request is refused for it.
        public var maxBufferedBytes: Int
        /// Kernel accept queue length for each listening socket.
        public var listenBacklog: Int
        /// Called on an event-loop thread whenever a connection opens (`delta` +1) or closes (-1), with
        /// the count after the change. Must be quick (for example a gauge update).
        public var connectionObserver: (@Sendable (_ delta: Int, _ open: Int) -> Void)?
        /// Called on an event-loop thread for every response the server writes on its own, without the
        /// responder: 400/413/417/431/501/505 for unparseable requests, 408 on timeouts, 503 when full.
        public var rejectionObserver: (@Sendable (HTTPStatus) -> Void)?
        /// Certificate and key files that switch the listener to HTTPS; nil serves plain HTTP.
        /// `start()` fails naming the file when either cannot be used.
        public var tls: TLSConfiguration?
        /// One `SO_REUSEPORT` listener per loop (true) or one listener shared by every loop (false).
        var reusePort: Bool = true

        public init(host: String = "0.0.0.0", port: Int = 8080, eventLoopCount: Int = 2,
                    maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 64 * 1024 * 1024,
                    headerReadTimeout: Double = 10, bodyReadTimeout: Double? = nil, idleTimeout: Double = 60,
                    maxConnections: Int = 10_000, maxBufferedBytes: Int = 64 * 1024 * 1024,
                    listenBacklog: Int = 1024, tls: TLSConfiguration? = nil,
                    connectionObserver: (@Sendable (_ delta: Int, _ open: Int) -> Void)? = nil,
                    rejectionObserver: (@Sendable (HTTPStatus) -> Void)? = nil) {
            self.host = host
            self.port = port
            self.eventLoopCount = eventLoopCount
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
            self.headerReadTimeout = headerReadTimeout
            self.bodyReadTimeout = bodyReadTimeout
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
            self.maxBufferedBytes = maxBufferedBytes
            self.listenBacklog = listenBacklog
            self.tls = tls
            self.connectionObserver = connectionObserver
            self.rejectionObserver = rejectionObserver
        }
    }
}

/// Why the server could not start.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case addressInUse
        case invalidAddress
        case invalidConfiguration
        case alreadyStarted
        case systemCallFailed
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Configuration in the units the loops use.
struct LoopSettings: Sendable {
    let limits: HTTPParser.Limits
    let headerTimeoutNanos: UInt64
    let bodyTimeoutNanos: UInt64
    let idleTimeoutNanos: UInt64
    let maxConnections: Int
    /// See `Configuration.maxBufferedBytes`.
    let maxBufferedBytes: Int
    /// How far a loop's own count may drift from what it published to the shared counter, so that
    /// small requests never touch the shared cache line.
    let bufferSlack: Int
    /// How often deadlines are checked.
    let sweepIntervalNanos: UInt64

    init(_ c: HTTPServer.Configuration) {
        func nanos(_ seconds: Double) -> UInt64 {
            guard seconds.isFinite, seconds > 0 else { return 1_000_000 }
            return seconds >= 1e9 ? UInt64(1e18) : UInt64(seconds * 1e9)
        }
        limits = HTTPParser.Limits(maxHeaderBytes: c.maxHeaderBytes, maxBodyBytes: c.maxBodyBytes)
        headerTimeoutNanos = nanos(c.headerReadTimeout)
        bodyTimeoutNanos = nanos(c.bodyReadTimeout ?? c.headerReadTimeout)
        idleTimeoutNanos = nanos(c.idleTimeout)
        maxConnections = max(1, c.maxConnections)
        maxBufferedBytes = max(1, c.maxBufferedBytes)
        bufferSlack = max(1, min(64 * 1024, maxBufferedBytes / (8 * max(1, c.eventLoopCount))))
        let shortest = min(headerTimeoutNanos, bodyTimeoutNanos, idleTimeoutNanos)
        sweepIntervalNanos = min(max(shortest / 8, 5_000_000), 250_000_000)
    }
}
