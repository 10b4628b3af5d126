#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Per-connection work on the loop thread: read, parse, dispatch, write, close.
extension EventLoop {
    func handle(slot: Int, events: UInt32) {
        guard slot < connections.count, let connection = connections[slot] else { return }
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            close(connection)
            return
        }
        if events & EPOLLOUT.rawValue != 0 && !connection.pending.isEmpty {
            writePending(connection)
            if connection.closed { return }
        }
        if events & EPOLLOUT.rawValue != 0, let tls = connection.tls, tls.readWantsWrite {
            // The TLS layer had to write (handshake, key update) before it could read on.
            readable(connection)
            return
        }
        if events & EPOLLIN.rawValue != 0 && (connection.lingering || canRead(connection)) {
            if connection.lingering || mayRead(connection) {
                readable(connection)
            } else {
                pauseReading(connection)
            }
        } else if events & EPOLLRDHUP.rawValue != 0 && connection.inFlight {
            // The client went away while its request is being handled: cancel the work.
            close(connection)
        } else if events & EPOLLIN.rawValue != 0 && connection.inFlight {
            // Input arrived while the request is handled (a pipelining client): stop watching
            // it until the response is out, as epoll would report it again and again.
            stopWatchingInput(connection)
        }
    }

    func canRead(_ c: Connection) -> Bool {
        !c.inFlight && c.pending.isEmpty && !c.closeAfterWrite
    }

    func readable(_ connection: Connection) {
        if receiveIntoParser(connection) {
            drive(connection)
        } else if connection.tls != nil && !connection.closed {
            // A TLS read may have switched between waiting to read and waiting to write.
            updateInterest(connection)
        }
    }

    /// One read; true when bytes went to the parser. Closes on end of stream or error.
    private func receiveIntoParser(_ connection: Connection) -> Bool {
        let n = connection.receive(into: readBuffer)
        if n > 0 {
            if connection.lingering {
                connection.lingerBytes += n
                if connection.lingerBytes > EventLoop.lingerMaxBytes { close(connection) }
                return false
            }
            connection.parser.append(UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n))
            return true
        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
            close(connection)
        }
        return false
    }

    /// Parses and answers buffered requests, one at a time, until input runs out, a response goes
    /// asynchronous, output backs up, or the connection is to close.
    func drive(_ connection: Connection) {
        parsing: while canRead(connection) && !connection.closed {
            if out.count >= EventLoop.readBufferSize {
                flush(connection)
                continue
            }
            switch connection.parser.step() {
            case .needMoreData:
                // Plaintext OpenSSL already decrypted does not make the socket readable again.
                if let tls = connection.tls, tls.hasBufferedInput, receiveIntoParser(connection) { continue }
                break parsing
            case .sendContinue:
                out.append(ResponseEncoder.continueResponse)
            case .request(let keepAlive):
                dispatch(connection, connection.parser.takeRequest(), keepAlive: keepAlive)
            case .error(let error):
                reject(connection, error.status, error.message)
                return
            }
        }
        flush(connection)
        afterIO(connection)
    }

    private func dispatch(_ connection: Connection, _ request: HTTPRequest, keepAlive: Bool) {
        serial &+= 1
        let serial = self.serial
        // A completion of an earlier request still holds the old address: that request's serial
        // must stay with it.
        if !isKnownUniquelyReferenced(&connection.responseAddress) {
            connection.responseAddress = ResponseAddress(loop: self, slot: connection.slot)
        }
        connection.responseAddress.unsafelyUnwrapped.serial = serial
        connection.requestID = RequestID.forRequest(request.headers)
        // Held by the connection only (no local here): `encode` finds it unique and keeps it.
        connection.cancellation = connection.spareToken.take() ?? CancellationToken()
        connection.inFlight = true
        if request.body.capacity != 0 { chargeInFlight(connection, request.body.capacity) }
        connection.serial = serial
        connection.keepAlive = keepAlive
        connection.isHead = request.method == .HEAD
        connection.minorVersion = request.minorVersion
        connection.setDeadline(.none, at: 0)
        core.inFlightRequests.wrappingAdd(1, ordering: .relaxed)
        dispatchingSerial = serial
        immediateResponse = nil
        callResponder(request, connection: connection)
        dispatchingSerial = 0
        if let immediate = immediateResponse.take() {
            encode(connection, immediate)
        }
    }

    /// Kept out of line so that the context (and its reference to the cancellation token) is gone
    /// when it returns, letting `encode` reuse the token.
    @inline(never)
    private func callResponder(_ request: HTTPRequest, connection: Connection) {
        let context = RequestContext(requestID: connection.requestID, receivedAtNanos: monotonicNanos(),
                                     remoteAddress: connection.remoteAddress,
                                     localPort: core.localPort.load(ordering: .relaxed), cancellation: connection.cancellation!)
        let address = connection.responseAddress!
        let completion: ResponseCompletion = { response in address.deliver(response) }
        if let router = core.router {
            router.route(request, context: context, completion: completion)
        } else {
            core.responder.respond(to: request, context: context, completion: completion)
        }
    }

    /// A response that arrived through the inbox.
    func complete(slot: Int, serial: UInt64, response: HTTPResponse) {
        guard slot < connections.count, let connection = connections[slot], connection.inFlight,
              connection.serial == serial
        else { return }
        encode(connection, response)
        if connection.closed { return }
        if canRead(connection) {
            drive(connection)
        } else {
            flush(connection)
            afterIO(connection)
        }
    }

    /// Serialises the answer to the in-flight request into `out` (large bodies are sent at once).
    private func encode(_ connection: Connection, _ response: HTTPResponse) {
        connection.inFlight = false
        if connection.inFlightBytes != 0 { dischargeInFlight(connection) }
        if var token = connection.cancellation {
            connection.cancellation = nil
            // Unique: the responder and middleware kept no reference, so no one can see it reused.
            if isKnownUniquelyReferenced(&token) && token.recycle() { connection.spareToken = token }
        }
        connection.unsentResponses += 1
        let close = !connection.keepAlive || core.draining.load(ordering: .relaxed)
        let outcome = ResponseEncoder.encodeHead(
            response, requestID: connection.requestID, isHead: connection.isHead, close: close,
            http10KeepAlive: connection.minorVersion == 0 && connection.keepAlive, date: date.line, into: &out)
        if outcome.close {
            connection.closeAfterWrite = true
            connection.lingerAfterWrite = !connection.parser.isIdle
        }
        guard outcome.sendBody else { return }
        if response.body.count <= EventLoop.inlineBodyLimit {
            out.append(response.body)
        } else {
            flush(connection, body: response.body)
        }
    }

    /// Sends `out` (and `body`, if given) or queues what the socket does not take.
    func flush(_ connection: Connection, body: [UInt8]? = nil) {
        defer { out.removeAll() }
        if connection.closed { return }
        if out.isEmpty && body == nil {
            if connection.pending.isEmpty { outputDrained(connection) }
            return
        }
        guard connection.pending.isEmpty else {
            if !out.isEmpty { connection.pending.append(out.array()) }
            if let body { connection.pending.append(body) }
            return
        }
        let written: Int
        if let body {
            let head = out.bytes
            written = body.withUnsafeBytes { tail in
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
                    vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count)
                    vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: tail.baseAddress), iov_len: tail.count)
                    return connection.send(vectors)
                }
            }
        } else {
            written = connection.send(out.bytes)
        }
        if written < 0 && errno != EAGAIN && errno != EINTR {
            close(connection)
            return
        }
        let n = max(written, 0)
        if n < out.count {
            connection.pending.append(out.array(from: n))
            if let body { connection.pending.append(body) }
        } else if let body, n - out.count < body.count {
            connection.pending.append(body)
            connection.pendingOffset = n - out.count
        }
        if connection.pending.isEmpty {
            outputDrained(connection)
        } else {
            connection.setDeadline(.write, at: now &+ settings.idleTimeoutNanos)
        }
    }

    /// EPOLLOUT: continue sending queued output, one chunk per call (this path only runs when the
    /// client reads slower than we write).
    func writePending(_ connection: Connection) {
        var progressed = false
        while let first = connection.pending.first {
            let offset = connection.pendingOffset
            let written = first.withUnsafeBytes { connection.send(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                close(connection)
                return
            }
            if written == 0 { break }
            progressed = true
            if written >= first.count - offset {
                connection.pending.removeFirst()
                connection.pendingOffset = 0
            } else {
                connection.pendingOffset += written
                break
            }
        }
        if connection.pending.isEmpty {
            outputDrained(connection)
            if connection.closed || connection.lingering { return }
            if canRead(connection) { drive(connection) } else { afterIO(connection) }
        } else {
            if progressed { connection.setDeadline(.write, at: now &+ settings.idleTimeoutNanos) }
            afterIO(connection)
        }
    }

    /// Everything encoded so far is with the kernel.
    private func outputDrained(_ connection: Connection) {
        if connection.unsentResponses > 0 {
            core.inFlightRequests.wrappingSubtract(connection.unsentResponses, ordering: .relaxed)
            connection.unsentResponses = 0
        }
        if connection.deadlineKind == .write { connection.setDeadline(.none, at: 0) }
        if connection.closeAfterWrite && !connection.lingering {
            if connection.lingerAfterWrite {
                beginLinger(connection)
            } else {
                close(connection)
            }
        }
    }

    /// After a final response with unread input: stop sending, keep reading and discarding for a
    /// moment, so that closing does not reset the connection before the client read the response.
    private func beginLinger(_ connection: Connection) {
        connection.tls?.close()
        _ = shutdown(connection.fd, Int32(SHUT_WR))
        connection.lingering = true
        connection.parser = HTTPParser(limits: .init(maxHeaderBytes: 64, maxBodyBytes: 0))
        connection.setDeadline(.linger, at: now &+ min(EventLoop.lingerNanos, settings.idleTimeoutNanos))
        account(connection)
        updateInterest(connection)
    }

    /// A response the server writes itself (parse errors, timeouts), always followed by closing.
    func reject(_ connection: Connection, _ status: HTTPStatus, _ message: String) {
        if connection.inFlight { return }
        core.rejectionObserver?(status)
        let response = Router.errorResponse(status, message)
        _ = ResponseEncoder.encodeHead(response, requestID: nil, isHead: false, close: true, http10KeepAlive: false,
                                       date: date.line, into: &out)
        out.append(response.body)
        connection.closeAfterWrite = true
        connection.lingerAfterWrite = true
        connection.setDeadline(.none, at: 0)
        flush(connection)
        afterIO(connection)
    }

    /// Sets the deadline matching the connection's state and the epoll interest.
    func afterIO(_ connection: Connection) {
        account(connection)
        if overdraft != nil { releaseOverdraft(ifDone: connection) }
        guard !connection.closed, !connection.lingering else { return }
        if !connection.pending.isEmpty {
            if connection.deadlineKind != .write {
                connection.setDeadline(.write, at: now &+ settings.idleTimeoutNanos)
            }
        } else if connection.inFlight || connection.closeAfterWrite {
            connection.setDeadline(.none, at: 0)
        } else if connection.parser.isIdle {
            if core.draining.load(ordering: .relaxed) {
                close(connection)
                return
            }
            if connection.deadlineKind != .idle && connection.deadlineKind != .fresh {
                connection.setDeadline(.idle, at: now &+ settings.idleTimeoutNanos)
            }
        } else if connection.parser.isReadingBody {
            if connection.deadlineKind != .body {
                connection.setDeadline(.body, at: now &+ settings.bodyTimeoutNanos)
            }
        } else if connection.deadlineKind == .fresh {
            connection.deadlineKind = .head
        } else if connection.deadlineKind != .head {
            connection.setDeadline(.head, at: now &+ settings.headerTimeoutNanos)
        }
        updateInterest(connection)
    }

    func updateInterest(_ connection: Connection) {
        var wanted: UInt32
        if connection.lingering {
            wanted = EPOLLIN.rawValue
        } else if !connection.pending.isEmpty {
            wanted = EPOLLOUT.rawValue | (connection.inFlight ? EPOLLRDHUP.rawValue : 0)
        } else if connection.inFlight {
            // Input stays watched if it was: most clients send nothing until answered, so the
            // interest is the same before, during and after the request, with no epoll_ctl for
            // it. Input that does arrive meanwhile turns it off (`stopWatchingInput`).
            wanted = (connection.interest & EPOLLIN.rawValue) | EPOLLRDHUP.rawValue
        } else if connection.readPaused {
            // Waiting for buffer budget: the kernel's receive buffer fills and TCP pushes back.
            wanted = 0
        } else {
            wanted = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        }
        if let tls = connection.tls, tls.readWantsWrite { wanted |= EPOLLOUT.rawValue }
        guard wanted != connection.interest else { return }
        connection.interest = wanted
        var event = epoll_event(events: wanted, data: epoll_data_t(u64: UInt64(connection.slot)))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, connection.fd, &event)
    }

    /// Drops EPOLLIN from the interest of a connection whose request is being handled.
    func stopWatchingInput(_ connection: Connection) {
        let wanted = connection.interest & ~EPOLLIN.rawValue
        guard wanted != connection.interest else { return }
        connection.interest = wanted
        var event = epoll_event(events: wanted, data: epoll_data_t(u64: UInt64(connection.slot)))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, connection.fd, &event)
    }

    /// Closes the socket; cancels the request if one is being handled.
    func close(_ connection: Connection) {
        guard !connection.closed else { return }
        connection.closed = true
        var unfinished = connection.unsentResponses
        connection.unsentResponses = 0
        if connection.inFlight {
            connection.inFlight = false
            if connection.inFlightBytes != 0 { dischargeInFlight(connection) }
            unfinished += 1
        }
        if unfinished > 0 { core.inFlightRequests.wrappingSubtract(unfinished, ordering: .relaxed) }
        if !connection.lingering { connection.tls?.close() }
        Glibc.close(connection.fd)
        connection.pending.removeAll()
        release(connection)
        dispose(slot: connection.slot)
        let open = core.openConnections.wrappingSubtract(1, ordering: .relaxed).newValue
        core.connectionObserver?(-1, open)
        if let token = connection.cancellation {
            connection.cancellation = nil
            token.cancel()
        }
    }
}
