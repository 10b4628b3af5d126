import Synchronization

/// The server-wide buffer budget (`HTTPServer.Configuration.maxBufferedBytes`).
///
/// Every connection is charged what it holds: its parser's input buffer and partial request (body
/// capacity included), the body of the request the responder is answering (until the response
/// comes back: a responder that queues bodies for other threads would otherwise take in requests
/// without bound), and response bytes the kernel has not taken. When the total reaches the budget,
/// a connection that becomes readable is not read: it loses its EPOLLIN interest (so TCP flow
/// control holds its client back) and its read deadline is suspended, so the budget alone never
/// fails a request. Already parsed requests, responses and writes go on. Paused connections are
/// read again, mid-body and oldest first, as bytes are released.
///
/// No deadlock: responses release what requests in flight hold; a loop with none in flight lets one
/// connection (its `overdraft`) read past the budget until its request is complete, so a loop with
/// paused connections always has a request moving towards release. Memory is bounded by the budget
/// plus, per loop, one request and one read buffer.
///
/// Each loop keeps its own count and publishes it to the shared counter only when it drifted by
/// `bufferSlack`, so small keep-alive requests never write a shared cache line.
extension EventLoop {
    /// Brings `connection`'s charge up to date with what it holds.
    @inline(__always) func account(_ connection: Connection) {
        let held = connection.closed ? 0 : connection.heldByteCount
        let delta = held &- connection.charged
        guard delta != 0 else { return }
        connection.charged = held
        changeHeld(by: delta)
    }

    /// The request's body goes to the responder and stays charged until its response.
    @inline(__always) func chargeInFlight(_ connection: Connection, _ bytes: Int) {
        connection.inFlightBytes = bytes
        inFlightHeldBytes &+= bytes
    }

    @inline(__always) func dischargeInFlight(_ connection: Connection) {
        inFlightHeldBytes &-= connection.inFlightBytes
        connection.inFlightBytes = 0
        if !pausedReads.isEmpty { resumeWanted = true }
    }

    /// Drops `connection`'s charge and its claims on the budget (it is closing).
    func release(_ connection: Connection) {
        if overdraft === connection { overdraft = nil }
        if connection.readPaused { resumeWanted = true }
        let charged = connection.charged
        connection.charged = 0
        if charged != 0 { changeHeld(by: -charged) }
    }

    private func changeHeld(by delta: Int) {
        heldBytes &+= delta
        if delta < 0 && !pausedReads.isEmpty { resumeWanted = true }
        let drift = heldBytes &- publishedBytes
        if drift >= settings.bufferSlack || drift <= -settings.bufferSlack || (heldBytes == 0 && drift != 0) {
            publishedBytes = heldBytes
            let total = core.bufferedBytes.wrappingAdd(drift, ordering: .relaxed).newValue
            if drift > 0 { raisePeak(total) }
            if drift < 0 && total < settings.maxBufferedBytes && core.budgetWaiters.load(ordering: .relaxed) > 0 {
                let loops = core.loops.withLock { $0 }
                for loop in loops where loop !== self && loop.waitingForBudget.load(ordering: .relaxed) {
                    loop.wakeForBudget()
                }
            }
        }
    }

    /// Bytes buffered server-wide, counting this loop's own exactly.
    var bufferedTotal: Int { core.bufferedBytes.load(ordering: .relaxed) &- publishedBytes &+ heldBytes }

    /// Whether `connection` may be read now; with the budget used up, only this loop's overdraft
    /// connection may (the first to ask becomes it, when no request is in flight on this loop).
    @inline(__always) func mayRead(_ connection: Connection) -> Bool {
        if bufferedTotal < settings.maxBufferedBytes { return true }
        if let current = overdraft { return current === connection }
        // Requests in flight on this loop will release budget when answered: wait for them.
        guard inFlightHeldBytes == 0 else { return false }
        overdraft = connection
        return true
    }

    /// Stops reading `connection` until budget comes free.
    func pauseReading(_ connection: Connection) {
        connection.readPaused = true
        // Suspended while paused: the client is not the one holding things up.
        connection.deadline = 0
        pausedReads.append(connection)
        core.readPauses.wrappingAdd(1, ordering: .relaxed)
        if pausedReads.count == 1 { setWaitingForBudget(true) }
        updateInterest(connection)
    }

    /// Reads `connection` again, with a fresh read deadline.
    private func resumeReading(_ connection: Connection) {
        connection.readPaused = false
        if connection.deadline == 0 {
            switch connection.deadlineKind {
            case .fresh, .head: connection.deadline = now &+ settings.headerTimeoutNanos
            case .body: connection.deadline = now &+ settings.bodyTimeoutNanos
            case .idle: connection.deadline = now &+ settings.idleTimeoutNanos
            case .none, .write, .linger: break
            }
        }
        updateInterest(connection)
    }

    /// The overdraft connection is done with its request (or gone): another may take its place.
    @inline(__always) func releaseOverdraft(ifDone connection: Connection) {
        guard overdraft === connection, connection.inFlight || connection.parser.isIdle || connection.closed else { return }
        overdraft = nil
        if !pausedReads.isEmpty { resumeWanted = true }
    }

    /// Resumes as many paused connections as the free budget allows (mid-body ones first, since
    /// finishing them releases what they hold), or else one as this loop's overdraft.
    func resumePausedReads() {
        resumeWanted = false
        pausedReads.removeAll { $0.closed || !$0.readPaused }
        if let current = overdraft, current.closed { overdraft = nil }
        var room = settings.maxBufferedBytes &- bufferedTotal
        for midBody in [true, false] where room > 0 {
            for connection in pausedReads where connection.readPaused && connection.parser.isReadingBody == midBody {
                resumeReading(connection)
                // One read may add up to a read buffer.
                room -= EventLoop.readBufferSize
                if room <= 0 { break }
            }
        }
        if overdraft == nil && inFlightHeldBytes == 0 {
            let next = pausedReads.first { $0.readPaused && $0.parser.isReadingBody }
                ?? pausedReads.first { $0.readPaused }
            if let next {
                overdraft = next
                resumeReading(next)
            }
        }
        pausedReads.removeAll { !$0.readPaused }
        if pausedReads.isEmpty { setWaitingForBudget(false) }
    }

    private func raisePeak(_ total: Int) {
        var seen = core.peakBufferedBytes.load(ordering: .relaxed)
        while total > seen {
            let (exchanged, current) = core.peakBufferedBytes.compareExchange(expected: seen, desired: total, ordering: .relaxed)
            if exchanged { break }
            seen = current
        }
    }

    /// This loop's exact count and paused connections, for `HTTPServer.bufferState()`.
    func budgetState() -> (held: Int, paused: Int) {
        (heldBytes, pausedReads.count { !$0.closed && $0.readPaused })
    }

    private func setWaitingForBudget(_ waiting: Bool) {
        guard waitingForBudget.load(ordering: .relaxed) != waiting else { return }
        waitingForBudget.store(waiting, ordering: .relaxed)
        core.budgetWaiters.wrappingAdd(waiting ? 1 : -1, ordering: .relaxed)
    }
}
