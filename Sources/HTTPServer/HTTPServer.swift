#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import Telemetry

/// An HTTP/1.1 server on raw epoll event loops.
///
/// Each of `eventLoopCount` threads owns an epoll instance, a `SO_REUSEPORT` listening socket and the
/// connections the kernel hands it. The responder is called on the loop thread and must return
/// quickly; its completion may be called later from any thread.
///
///     let server = HTTPServer(configuration: .init(port: 8080), responder: router)
///     try server.start()
///     // SIGTERM:
///     server.stopAccepting(); server.beginDraining()
///     while server.inFlightRequests > 0 { usleep(5_000) }   // bounded by a deadline in practice
///     server.shutdown()
public final class HTTPServer: Sendable {
    public let configuration: Configuration
    let core: ServerCore
    private let lifecycle = Mutex(Lifecycle.idle)

    enum Lifecycle {
        case idle
        case running(loops: [EventLoop], threads: [pthread_t], sharedListener: Int32?)
        case stopped
    }

    public init(configuration: Configuration = Configuration(), responder: any HTTPResponder,
                logger: Logger = Logger(label: "http")) {
        self.configuration = configuration
        self.core = ServerCore(configuration: configuration, responder: responder, logger: logger)
    }

    deinit {
        shutdown()
    }

    /// The bound port (the ephemeral one when configured with 0); 0 before `start()`.
    public var localPort: Int { core.localPort.load(ordering: .acquiring) }
    /// Client connections currently open.
    public var openConnections: Int { core.openConnections.load(ordering: .relaxed) }
    /// Requests received whose response has not been completely written yet.
    public var inFlightRequests: Int { core.inFlightRequests.load(ordering: .relaxed) }
    /// Request and response bytes held server-wide against `maxBufferedBytes` (each loop
    /// publishes its count when it drifts by more than a small slack, so this is approximate).
    public var bufferedBytes: Int { max(0, core.bufferedBytes.load(ordering: .relaxed)) }
    /// Times a connection stopped being read because `maxBufferedBytes` was used up.
    public var readPauses: Int { core.readPauses.load(ordering: .relaxed) }
    /// True after `beginDraining()`.
    public var isDraining: Bool { core.draining.load(ordering: .relaxed) }
    /// True when the listener serves HTTPS.
    public var usesTLS: Bool { core.tls != nil }

    /// Reads the TLS certificate and key files again (for example after SIGHUP) and uses them for
    /// new connections; open connections keep theirs. On error the previous files stay in use and
    /// the error names the file. Does nothing without TLS.
    public func reloadTLS() throws {
        try core.tls?.load()
    }

    /// Binds the listening sockets and starts the event-loop threads.
    /// Throws `HTTPServerError` naming `host:port` when the address cannot be used.
    public func start() throws {
        try lifecycle.withLock { state in
            guard case .idle = state else {
                throw HTTPServerError(.alreadyStarted, "the server was already started")
            }
            state = try launch()
        }
    }

    private func launch() throws -> Lifecycle {
        let c = configuration
        let display = Socket.display(host: c.host, port: c.port)
        guard (0...65535).contains(c.port) else {
            throw HTTPServerError(.invalidConfiguration, "cannot listen on \(display): port out of range")
        }
        guard (1...1024).contains(c.eventLoopCount) else {
            throw HTTPServerError(.invalidConfiguration, "eventLoopCount must be 1...1024, got \(c.eventLoopCount)")
        }
        try core.tls?.load()
        let address = try Socket.resolve(host: c.host, port: c.port)

        var listeners: [Int32] = []
        var loops: [EventLoop] = []
        var shared: Int32?
        do {
            if c.reusePort {
                if c.port != 0 { try Socket.checkAvailable(address, display: display) }
                let first = try Socket.listen(address, port: nil, reusePort: true, backlog: c.listenBacklog, display: display)
                listeners.append(first)
                let port = Socket.localPort(first)
                for _ in 1..<c.eventLoopCount {
                    listeners.append(try Socket.listen(address, port: port, reusePort: true, backlog: c.listenBacklog,
                                                       display: Socket.display(host: c.host, port: port)))
                }
            } else {
                let fd = try Socket.listen(address, port: nil, reusePort: false, backlog: c.listenBacklog, display: display)
                listeners.append(fd)
                shared = fd
            }
            for i in 0..<c.eventLoopCount {
                let own = c.reusePort ? [listeners[i]] : listeners
                loops.append(try EventLoop(index: i, core: core, listeners: own, ownsListeners: c.reusePort))
            }
        } catch {
            for loop in loops { loop.discardUnstarted(closingListeners: false) }
            for fd in listeners { close(fd) }
            throw error
        }
        core.localPort.store(Socket.localPort(listeners[0]), ordering: .releasing)
        core.loops.withLock { $0 = loops }

        var threads: [pthread_t] = []
        for loop in loops {
            do {
                threads.append(try startThread { loop.run() })
            } catch {
                for (started, thread) in zip(loops, threads) {
                    started.execute { $0.stop() }
                    pthread_join(thread, nil)
                }
                for unstarted in loops.dropFirst(threads.count) { unstarted.discardUnstarted(closingListeners: true) }
                if let shared { close(shared) }
                core.loops.withLock { $0.removeAll() }
                throw error
            }
        }
        return .running(loops: loops, threads: threads, sharedListener: shared)
    }

    /// Stops accepting connections: the listening sockets close (connections already queued by the
    /// kernel are still accepted first). Open connections keep being served. Waits until every loop
    /// has closed its listener, unless called from a loop thread.
    public func stopAccepting() {
        guard case .running(let loops, _, let shared) = lifecycle.withLock({ $0 }) else { return }
        let onLoop = loops.contains { $0.isCurrentThread }
        var waits: [DispatchSemaphore] = []
        for loop in loops {
            let done = DispatchSemaphore(value: 0)
            if loop.execute({ $0.closeListeners(); done.signal() }) { waits.append(done) }
        }
        guard !onLoop else { return }
        for done in waits { _ = done.wait(timeout: .now() + .seconds(5)) }
        if let shared {
            lifecycle.withLock { state in
                if case .running(let loops, let threads, shared?) = state {
                    close(shared)
                    state = .running(loops: loops, threads: threads, sharedListener: nil)
                }
            }
        }
    }

    /// From now on every response carries `Connection: close`; idle connections close unless a
    /// request arrives within a short grace (a quarter of a second), which is then answered.
    public func beginDraining() {
        core.draining.store(true, ordering: .relaxed)
        guard case .running(let loops, _, _) = lifecycle.withLock({ $0 }) else { return }
        for loop in loops { loop.execute { $0.closeIdleConnections() } }
    }

    /// Whether a request may still reach the responder: true while any open connection is idle
    /// between keep-alive requests, holds a request not yet complete or not yet read, or will read
    /// another after its response. After `stopAccepting()` and `beginDraining()` it turns false once
    /// every remaining connection is answering its last request. Asks each loop; waits at most a second
    /// (and answers true if a loop does not reply in time).
    public func mayReceiveRequests() -> Bool {
        guard case .running(let loops, _, _) = lifecycle.withLock({ $0 }) else { return false }
        if loops.contains(where: { $0.isCurrentThread }) { return true }
        let answer = LoopAnswer()
        var waits: [DispatchSemaphore] = []
        for loop in loops {
            let done = DispatchSemaphore(value: 0)
            if loop.execute({ if $0.mayReceiveRequests() { answer.yes.store(true, ordering: .relaxed) }; done.signal() }) {
                waits.append(done)
            }
        }
        for done in waits where done.wait(timeout: .now() + .seconds(1)) == .timedOut { return true }
        return answer.yes.load(ordering: .relaxed)
    }

    /// CPU time the event-loop threads have used so far (a test sees a loop that spins).
    var loopCPUNanoseconds: UInt64 {
        guard case .running(let loops, _, _) = lifecycle.withLock({ $0 }) else { return 0 }
        var total: UInt64 = 0
        for loop in loops {
            var clock = clockid_t()
            let thread = pthread_t(loop.threadID.load(ordering: .acquiring))
            guard thread != 0, pthread_getcpuclockid(thread, &clock) == 0 else { continue }
            var ts = timespec()
            clock_gettime(clock, &ts)
            total += UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        return total
    }

    /// The buffer budget's state, asked of every loop: bytes held now (exact), connections paused
    /// now, pauses so far, and the highest total published (within `bufferSlack` per loop).
    func bufferState() -> (held: Int, paused: Int, pauses: Int, peak: Int) {
        guard case .running(let loops, _, _) = lifecycle.withLock({ $0 }) else { return (0, 0, 0, 0) }
        let sums = Mutex<(Int, Int)>((0, 0))
        var waits: [DispatchSemaphore] = []
        for loop in loops {
            let done = DispatchSemaphore(value: 0)
            if loop.execute({ l in
                let state = l.budgetState()
                sums.withLock { $0.0 += state.held; $0.1 += state.paused }
                done.signal()
            }) { waits.append(done) }
        }
        for done in waits { _ = done.wait(timeout: .now() + .seconds(5)) }
        let (held, paused) = sums.withLock { $0 }
        return (held, paused, core.readPauses.load(ordering: .relaxed), core.peakBufferedBytes.load(ordering: .relaxed))
    }

    /// Closes every connection (cancelling requests still being handled) and listener, and joins the
    /// loop threads. Idempotent.
    public func shutdown() {
        let previous = lifecycle.withLock { state -> Lifecycle in
            let old = state
            state = .stopped
            return old
        }
        guard case .running(let loops, let threads, let shared) = previous else { return }
        core.loops.withLock { $0.removeAll() }
        for loop in loops { loop.execute { $0.stop() } }
        let me = pthread_self()
        for thread in threads {
            if pthread_equal(thread, me) != 0 {
                pthread_detach(thread)
            } else {
                pthread_join(thread, nil)
            }
        }
        if let shared { close(shared) }
    }
}

/// A yes/no that loop tasks set and the asking thread reads after they signalled.
private final class LoopAnswer: Sendable {
    let yes = Atomic<Bool>(false)
}

/// Owns a thread's entry closure across `pthread_create`.
private final class ThreadEntry {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

private func startThread(_ body: @escaping () -> Void) throws -> pthread_t {
    let entry = Unmanaged.passRetained(ThreadEntry(body))
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        Unmanaged<ThreadEntry>.fromOpaque(argument).takeRetainedValue().body()
        return nil
    }, entry.toOpaque())
    guard status == 0 else {
        entry.release()
        throw HTTPServerError(.systemCallFailed, "pthread_create: \(Socket.errorText(status))")
    }
    return thread
}
