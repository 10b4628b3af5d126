#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Synchronization
import Telemetry

/// State shared by the server object and its event loops.
final class ServerCore: Sendable {
    let settings: LoopSettings
    let responder: any HTTPResponder
    /// `responder` when it is a `Router`, which the loops call directly.
    let router: Router?
    let logger: Logger
    let connectionObserver: (@Sendable (_ delta: Int, _ open: Int) -> Void)?
    let rejectionObserver: (@Sendable (HTTPStatus) -> Void)?
    /// Present when the listener serves HTTPS.
    let tls: TLSContextStore?
    let openConnections = Atomic<Int>(0)
    let inFlightRequests = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    let localPort = Atomic<Int>(0)
    /// Bytes held for unanswered input and unsent output, as published by the loops (each loop
    /// publishes its own count in steps of `LoopSettings.bufferSlack`).
    let bufferedBytes = Atomic<Int>(0)
    /// Highest `bufferedBytes` published so far.
    let peakBufferedBytes = Atomic<Int>(0)
    /// Times a connection was paused for the budget.
    let readPauses = Atomic<Int>(0)
    /// Loops with connections paused for the buffer budget.
    let budgetWaiters = Atomic<Int>(0)
    /// The running loops, for waking the ones waiting for budget; emptied at shutdown.
    let loops = Mutex<[EventLoop]>([])

    init(configuration: HTTPServer.Configuration, responder: any HTTPResponder, logger: Logger) {
        settings = LoopSettings(configuration)
        self.responder = responder
        router = responder as? Router
        self.logger = logger
        connectionObserver = configuration.connectionObserver
        rejectionObserver = configuration.rejectionObserver
        tls = configuration.tls.map(TLSContextStore.init)
    }
}

/// One event-loop thread: an epoll instance, its listening socket(s), its connections, and an inbox
/// through which other threads hand it completed responses and tasks.
final class EventLoop: @unchecked Sendable {
    // Why @unchecked Sendable is safe: every `var` below is read and written only on the loop's own
    // thread (inside `run()` and what it calls; before `run()` starts, only the creating thread touches
    // them). Other threads reach the loop solely through `inbox` (a Mutex), the `wakeFD` eventfd, the
    // immutable `let`s and atomics.

    struct Completed {
        var slot: Int
        var serial: UInt64
        var response: HTTPResponse
    }

    struct Inbox {
        var completions: [Completed] = []
        var tasks: [@Sendable (EventLoop) -> Void] = []
        var wakeArmed = false
        var closed = false
        /// Another loop released buffer budget this loop is waiting for.
        var budgetReleased = false
    }

    static let wakeTag = UInt64.max
    static let listenerTag = UInt64.max - 1
    static let maxEvents: Int32 = 256
    static let readBufferSize = 64 * 1024
    /// Bodies up to this size are copied behind the head for a single `send`; larger ones are sent
    /// from their own array with `sendmsg`.
    static let inlineBodyLimit = 32 * 1024
    static let lingerNanos: UInt64 = 2_000_000_000
    static let lingerMaxBytes = 1 << 20
    static let acceptBatch = 64

    let index: Int
    let core: ServerCore
    let settings: LoopSettings
    let epfd: Int32
    let wakeFD: Int32
    let inbox = Mutex(Inbox())
    let threadID = Atomic<UInt>(0)
    let readBuffer: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<epoll_event>

    // Loop-confined state. `@exclusivity(unchecked)` drops the runtime access tracking on the hot
    // path; only this thread touches these, and the compiler still checks accesses statically.
    var listeners: [Int32]
    /// With one listener shared by all loops, the server closes it; each loop only deregisters it.
    let ownsListeners: Bool
    var acceptPaused = false
    var acceptResumeAt: UInt64 = 0
    @exclusivity(unchecked) var connections: [Connection?] = []
    var freeSlots: [Int] = []
    /// Slots freed during the current batch of events; reused only after it, so that a stale event
    /// in the same batch never reaches a new connection.
    @exclusivity(unchecked) var releasedSlots: [Int] = []
    @exclusivity(unchecked) var out = ByteBuffer(capacity: EventLoop.inlineBodyLimit + 4096)
    @exclusivity(unchecked) var date = DateCache()
    @exclusivity(unchecked) var now: UInt64 = 0
    @exclusivity(unchecked) var nextSweep: UInt64 = 0
    @exclusivity(unchecked) var serial: UInt64 = 0
    @exclusivity(unchecked) var running = true
    var spareCompletions: [Completed] = []
    /// The request whose responder is running on this thread right now, and its response if the
    /// completion was called before `respond` returned (the common case: no lock, no wakeup).
    @exclusivity(unchecked) var dispatchingSerial: UInt64 = 0
    @exclusivity(unchecked) var immediateResponse: HTTPResponse?

    // Buffer budget (see `EventLoop+ReadBudget.swift`).
    /// Sum of this loop's connections' charges, exact.
    @exclusivity(unchecked) var heldBytes = 0
    /// The part of `heldBytes` in requests being answered (`Connection.inFlightBytes`).
    @exclusivity(unchecked) var inFlightHeldBytes = 0
    /// The part of `heldBytes` added to `core.bufferedBytes`.
    @exclusivity(unchecked) var publishedBytes = 0
    /// Connections not read until the budget has room, oldest first (closed ones removed lazily).
    var pausedReads: [Connection] = []
    /// The one connection of this loop that may read past the budget, so that some request always
    /// completes and releases what it holds.
    @exclusivity(unchecked) var overdraft: Connection?
    /// Set when budget may have come free for a paused connection; acted on after the event batch.
    @exclusivity(unchecked) var resumeWanted = false
    /// Published in `core.budgetWaiters` while `pausedReads` is not empty.
    let waitingForBudget = Atomic<Bool>(false)

    init(index: Int, core: ServerCore, listeners: [Int32], ownsListeners: Bool) throws {
        self.index = index
        self.core = core
        self.settings = core.settings
        self.listeners = listeners
        self.ownsListeners = ownsListeners
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else {
            throw HTTPServerError(.systemCallFailed, "epoll_create1: \(Socket.errorText(errno))")
        }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let code = errno
            Glibc.close(epfd)
            throw HTTPServerError(.systemCallFailed, "eventfd: \(Socket.errorText(code))")
        }
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        events = .allocate(capacity: Int(EventLoop.maxEvents))
        addToEpoll(wakeFD, events: EPOLLIN.rawValue, tag: EventLoop.wakeTag)
        for fd in listeners { registerListener(fd) }
    }

    deinit {
        // Closed only here: completions may still try to wake the loop after it stopped, and the
        // descriptor number must not be reused by anything else until nobody can write to it.
        Glibc.close(wakeFD)
        readBuffer.deallocate()
        events.deallocate()
    }

    // MARK: - Cross-thread entry points

    /// Hands a response to the loop; callable from any thread. Stale or duplicate ones are dropped later.
    func post(slot: Int, serial: UInt64, response: consuming HTTPResponse) {
        // On the loop thread itself the loop-confined fields may be used directly.
        if isCurrentThread && dispatchingSerial == serial && immediateResponse == nil {
            immediateResponse = response
            return
        }
        // Moved into the inbox, not copied (a copy retains each of the response's buffers).
        var completed: Completed? = Completed(slot: slot, serial: serial, response: response)
        let wake = inbox.withLock { box -> Bool in
            if box.closed { return false }
            box.completions.append(completed.take()!)
            if box.wakeArmed { return false }
            box.wakeArmed = true
            return true
        }
        if wake { signalWake() }
    }

    /// Runs `task` on the loop thread; false if the loop has stopped.
    @discardableResult
    func execute(_ task: @escaping @Sendable (EventLoop) -> Void) -> Bool {
        let (accepted, wake) = inbox.withLock { box -> (Bool, Bool) in
            if box.closed { return (false, false) }
            box.tasks.append(task)
            if box.wakeArmed { return (true, false) }
            box.wakeArmed = true
            return (true, true)
        }
        if wake { signalWake() }
        return accepted
    }

    var isCurrentThread: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// Another loop released buffer budget: look at the paused connections again.
    func wakeForBudget() {
        let wake = inbox.withLock { box -> Bool in
            if box.closed { return false }
            box.budgetReleased = true
            if box.wakeArmed { return false }
            box.wakeArmed = true
            return true
        }
        if wake { signalWake() }
    }

    private func signalWake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: - Loop

    func run() {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        setCurrentThreadName("pd-http-\(index)")
        now = monotonicNanos()
        nextSweep = now &+ settings.sweepIntervalNanos
        date.update()
        while running {
            let wait = nextSweep > now ? (nextSweep - now) / 1_000_000 + 1 : 0
            let count = epoll_wait(epfd, events, EventLoop.maxEvents, Int32(clamping: wait))
            now = monotonicNanos()
            if count < 0 {
                if errno == EINTR { continue }
                core.logger.critical("event loop failed", metadata: ["error": "\(Socket.errorText(errno))"])
                break
            }
            date.update()
            for i in 0..<Int(count) where running {
                let event = events[i]
                let tag = event.data.u64
                if tag == EventLoop.wakeTag {
                    drainInbox()
                } else if tag == EventLoop.listenerTag {
                    acceptConnections()
                } else {
                    handle(slot: Int(truncatingIfNeeded: tag), events: event.events)
                }
            }
            if !releasedSlots.isEmpty {
                freeSlots.append(contentsOf: releasedSlots)
                releasedSlots.removeAll(keepingCapacity: true)
            }
            if resumeWanted { resumePausedReads() }
            if now >= nextSweep {
                sweep()
                nextSweep = now &+ settings.sweepIntervalNanos
            }
        }
        teardown()
    }

    private func drainInbox() {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        var tasks: [@Sendable (EventLoop) -> Void] = []
        // The inbox's completions are swapped with this loop's emptied array, so both keep
        // their capacity from one wake-up to the next.
        var completed: [Completed] = []
        swap(&completed, &spareCompletions)
        let budgetReleased = inbox.withLock { box -> Bool in
            box.wakeArmed = false
            swap(&box.completions, &completed)
            if !box.tasks.isEmpty { swap(&box.tasks, &tasks) }
            defer { box.budgetReleased = false }
            return box.budgetReleased
        }
        if budgetReleased && !pausedReads.isEmpty { resumeWanted = true }
        // Borrowed in place from a local array: iterating, or reading a property, would copy
        // each response (a retain of each of its buffers).
        for index in completed.indices {
            complete(slot: completed[index].slot, serial: completed[index].serial, response: completed[index].response)
        }
        completed.removeAll(keepingCapacity: true)
        swap(&completed, &spareCompletions)
        for task in tasks { task(self) }
    }

    // MARK: - Listeners

    private func addToEpoll(_ fd: Int32, events: UInt32, tag: UInt64) {
        var event = epoll_event(events: events, data: epoll_data_t(u64: tag))
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event)
    }

    private func registerListener(_ fd: Int32) {
        // A shared listener wakes one waiting loop per connection instead of all of them.
        let flags = EPOLLIN.rawValue | (ownsListeners ? 0 : EPOLLEXCLUSIVE.rawValue)
        addToEpoll(fd, events: flags, tag: EventLoop.listenerTag)
    }

    private func acceptConnections() {
        for fd in listeners where !acceptPaused {
            accept(from: fd)
        }
    }

    private func accept(from listener: Int32) {
        for _ in 0..<EventLoop.acceptBatch {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listener, $0, &length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Level-triggered: without a pause the pending connection would spin the loop.
                    pauseAccepting(reason: code)
                    return
                default:
                    return
                }
            }
            let open = core.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
            if open > settings.maxConnections {
                core.openConnections.wrappingSubtract(1, ordering: .relaxed)
                rejectOverCapacity(fd)
                continue
            }
            Socket.setNoDelay(fd)
            register(fd: fd, remoteAddress: Socket.describe(address))
            core.connectionObserver?(1, open)
        }
    }

    private func pauseAccepting(reason: Int32) {
        acceptPaused = true
        acceptResumeAt = now &+ 100_000_000
        for fd in listeners { _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil) }
        core.logger.warning("accept paused", metadata: ["error": "\(Socket.errorText(reason))"])
    }

    private func resumeAcceptingIfDue() {
        guard acceptPaused, now >= acceptResumeAt else { return }
        acceptPaused = false
        for fd in listeners { registerListener(fd) }
    }

    /// Stops accepting: closes (or, when shared, deregisters) this loop's listeners after taking what
    /// is already queued, so those connections are served rather than reset.
    func closeListeners() {
        if !acceptPaused { acceptConnections() }
        for fd in listeners {
            _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
            if ownsListeners { Glibc.close(fd) }
        }
        listeners.removeAll()
        acceptPaused = false
    }

    private func register(fd: Int32, remoteAddress: String) {
        var session: TLSSession?
        if let tls = core.tls {
            session = tls.makeSession(fd: fd)
            guard session != nil else {
                Glibc.close(fd)
                let open = core.openConnections.wrappingSubtract(1, ordering: .relaxed).newValue
                core.connectionObserver?(-1, open)
                return
            }
        }
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = connections.count
            connections.append(nil)
        }
        let connection = Connection(fd: fd, slot: slot, remoteAddress: remoteAddress, limits: settings.limits, tls: session)
        connection.setDeadline(.fresh, at: now &+ settings.headerTimeoutNanos)
        connections[slot] = connection
        connection.interest = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        addToEpoll(fd, events: connection.interest, tag: UInt64(slot))
    }

    /// Over `maxConnections`: a best-effort 503 and close, without allocating a connection.
    private func rejectOverCapacity(_ fd: Int32) {
        core.rejectionObserver?(.serviceUnavailable)
        // An HTTPS client cannot read a plaintext answer before its handshake: just close.
        if core.tls != nil {
            Glibc.close(fd)
            return
        }
        out.removeAll()
        let response = Router.errorResponse(.serviceUnavailable, "server is at its connection limit",
                                            headers: ["Retry-After": "1"])
        _ = ResponseEncoder.encodeHead(response, requestID: nil, isHead: false, close: true, http10KeepAlive: false,
                                       date: date.line, into: &out)
        out.append(response.body)
        let bytes = out.bytes
        _ = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        out.removeAll()
        _ = shutdown(fd, Int32(SHUT_WR))
        // Consume a request that already arrived, so close() does not answer it with a reset.
        _ = read(fd, readBuffer.baseAddress, readBuffer.count)
        Glibc.close(fd)
    }

    // MARK: - Timers

    private func sweep() {
        resumeAcceptingIfDue()
        // Also a fallback for budget released by another loop without a wake-up.
        if !pausedReads.isEmpty { resumePausedReads() }
        for slot in connections.indices {
            guard let connection = connections[slot], connection.deadline != 0, now >= connection.deadline else {
                continue
            }
            switch connection.deadlineKind {
            case .none:
                break
            case .fresh, .idle, .write, .linger:
                close(connection)
            case .head, .body:
                reject(connection, .requestTimeout, "request not received within the time limit")
            }
        }
    }

    // MARK: - Lifecycle tasks

    /// Draining: idle connections (keep-alive between requests, or accepted with nothing received
    /// yet) close after `drainIdleGraceNanos` unless a request arrives first, which is answered
    /// with `Connection: close`; busy ones close after their response. Closing them at once raced
    /// with a client whose next request was already on its way, which then lost it. A request
    /// that already arrived but whose event is still queued is read and answered now.
    func closeIdleConnections() {
        let closeBy = now &+ EventLoop.drainIdleGraceNanos
        for case let connection? in connections where isIdle(connection) {
            readable(connection)
            guard !connection.closed && isIdle(connection) else { continue }
            if connection.deadline == 0 || connection.deadline > closeBy {
                connection.setDeadline(connection.deadlineKind == .fresh ? .fresh : .idle, at: closeBy)
            }
        }
    }

    /// How long an idle connection may still bring a request once draining begins.
    static let drainIdleGraceNanos: UInt64 = 250_000_000

    /// See `HTTPServer.mayReceiveRequests()`.
    func mayReceiveRequests() -> Bool {
        let draining = core.draining.load(ordering: .relaxed)
        return connections.contains { c in
            guard let c, !c.closed, !c.lingering, !c.closeAfterWrite else { return false }
            if c.inFlight || !c.pending.isEmpty { return c.keepAlive && !draining }
            return true
        }
    }

    func isIdle(_ c: Connection) -> Bool {
        !c.inFlight && c.pending.isEmpty && !c.lingering && !c.closeAfterWrite && c.parser.isIdle
    }

    func stop() {
        running = false
    }

    /// Releases the descriptors of a loop whose thread never started.
    func discardUnstarted(closingListeners: Bool) {
        for fd in listeners where ownsListeners && closingListeners { Glibc.close(fd) }
        listeners.removeAll()
        inbox.withLock { $0.closed = true }
        Glibc.close(epfd)
    }

    private func teardown() {
        for fd in listeners {
            _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
            if ownsListeners { Glibc.close(fd) }
        }
        listeners.removeAll()
        for case let connection? in connections { close(connection) }
        let leftover = inbox.withLock { box -> [@Sendable (EventLoop) -> Void] in
            box.closed = true
            box.completions.removeAll()
            defer { box.tasks.removeAll() }
            return box.tasks
        }
        for task in leftover { task(self) }
        Glibc.close(epfd)
    }

    func dispose(slot: Int) {
        connections[slot] = nil
        releasedSlots.append(slot)
    }
}
