#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import HTTPServer

/// The server-wide buffer budget (`Configuration.maxBufferedBytes`) over real sockets: reading pauses
/// when it is used up, paused connections keep their requests (no timeout, no error) and resume as
/// bytes are released, and every request completes.
@Suite("Buffer budget", .serialized)
struct ReadBudgetTests {
    static func head(_ length: Int) -> String {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n"
    }

    static func body(_ length: Int, seed: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed &* 13 &+ $0 >> 9) }
    }

    @Test func pausedConnectionKeepsItsRequestAndResumes() throws {
        // One loop, 128 KiB: two 100 KB bodies barely started use it up (each reserves its full length).
        let s = try TestServer {
            $0.eventLoopCount = 1
            $0.maxBufferedBytes = 128 * 1024
            $0.headerReadTimeout = 0.5
            $0.bodyReadTimeout = 30
        }
        let length = 100_000
        var clients: [TestClient] = []
        var bodies: [[UInt8]] = []
        for i in 0..<3 {
            let c = try s.client(timeout: 20)
            let body = Self.body(length, seed: i)
            // Small enough to arrive in one read, so the order of events on the server is known.
            try c.send(Array(Self.head(length).utf8) + body[..<1_000])
            clients.append(c)
            bodies.append(body)
            // A and B are read within the budget; C arrives over it and becomes the loop's overdraft.
            #expect(eventually { s.server.bufferState().held >= (i + 1) * length })
        }
        let (a, b, c) = (clients[0], clients[1], clients[2])
        #expect(s.server.bufferState().paused == 0)
        // What /metrics reports (published in steps, so only roughly): over the budget now.
        #expect(s.server.bufferedBytes >= 128 * 1024 - 64 * 1024)

        // D: a complete request, but over budget with the overdraft taken: paused, not read.
        let d = try s.client(timeout: 20)
        try d.send(Self.head(5) + "dddd!")
        #expect(eventually { s.server.bufferState().paused == 1 })
        // Its read deadline is suspended: no 408 although the header timeout passes three times.
        #expect(d.staysOpen(for: 1.5))

        // A's rest arrives while over budget: A pauses mid-body.
        try a.send(Array(bodies[0][1_000...]))
        #expect(eventually { s.server.bufferState().paused == 2 })

        // C (the overdraft) completes; its release lets A and D go on; then B.
        try c.send(Array(bodies[2][1_000...]))
        let cr = try c.readResponse()
        #expect(cr.status == 200 && cr.body == bodies[2])
        let ar = try a.readResponse()
        #expect(ar.status == 200 && ar.body == bodies[0])
        let dr = try d.readResponse()
        #expect(dr.status == 200 && dr.bodyText == "dddd!")
        try b.send(Array(bodies[1][1_000...]))
        let br = try b.readResponse()
        #expect(br.status == 200 && br.body == bodies[1])

        // Everything released; the connections stay usable.
        #expect(eventually { let state = s.server.bufferState(); return state.paused == 0 && state.held < 64 * 1024 })
        #expect(s.server.bufferState().pauses >= 2)
        #expect(s.server.readPauses == s.server.bufferState().pauses)
        #expect(s.server.bufferedBytes < 128 * 1024)  // released: under the budget again
        for client in [a, b, c, d] { #expect(try client.request("GET", "/hello").bodyText == "hello") }
    }

    @Test func bodiesBeingAnsweredStayChargedUntilTheirResponse() throws {
        // The responder holds a 100 KB body (as a queue for other threads would): it stays charged, so
        // the next uploads wait unread until it is answered. No overdraft meanwhile: the answer will
        // release budget.
        let s = try TestServer {
            $0.eventLoopCount = 1
            $0.maxBufferedBytes = 128 * 1024
        }
        let length = 100_000
        let upload = { (seed: Int) in
            Array("POST /gated HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n".utf8) + Self.body(length, seed: seed)
        }
        let first = try s.client(timeout: 20)
        try first.send(upload(0))
        #expect(eventually { s.gatedArrivals.value == 1 })
        #expect(s.server.bufferState().held >= length)
        // Read within the budget until its body reservation uses it up, then paused mid-body.
        let second = try s.client(timeout: 20)
        try second.send(upload(1))
        #expect(eventually { s.server.bufferState().paused == 1 })
        let third = try s.client(timeout: 20)
        try third.send(Self.head(3) + "abc")
        #expect(eventually { s.server.bufferState().paused == 2 })
        #expect(third.staysOpen(for: 0.3))
        #expect(s.gatedArrivals.value == 1)

        s.gate.open()
        #expect(try first.readResponse().bodyText == "\(length)")
        let small = try third.readResponse()
        #expect(small.status == 200 && small.bodyText == "abc")
        #expect(eventually { s.gatedArrivals.value == 2 })
        s.gate.open()
        #expect(try second.readResponse().bodyText == "\(length)")
        #expect(eventually { let state = s.server.bufferState(); return state.paused == 0 && state.held < 64 * 1024 })
    }

    @Test func manyLargeUploadsAllCompleteWithinTheBudget() throws {
        let budget = 256 * 1024
        let s = try TestServer { $0.maxBufferedBytes = budget; $0.bodyReadTimeout = 60 }
        let connections = 48, rounds = 3, length = 100_000
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        // Every connection first sends a head and the start of its body, so that the bodies the
        // server has begun (each reserving its full length) exceed the budget at once, however
        // the threads are scheduled; then all send the rest.
        let started = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for i in 0..<connections {
            done.enter()
            started.enter()
            let port = s.port
            let thread = Thread {
                defer { done.leave() }
                var waiting = true
                defer { if waiting { started.leave() } }
                do {
                    let c = try TestClient(port: port, timeout: 60)
                    for round in 0..<rounds {
                        let body = Self.body(length, seed: i * rounds + round)
                        if round == 0 {
                            try c.send(Array(Self.head(length).utf8) + body[..<1_000])
                            waiting = false
                            started.leave()
                            go.wait()
                            try c.send(Array(body[1_000...]))
                        } else {
                            try c.send(Array(Self.head(length).utf8) + body)
                        }
                        let response = try c.readResponse()
                        if response.status != 200 || response.body != body {
                            failures.withLock { $0.append("connection \(i) round \(round): status \(response.status), \(response.body.count) bytes") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("connection \(i): \(error)") }
                }
            }
            thread.start()
        }
        #expect(started.wait(timeout: .now() + 60) == .success)
        for _ in 0..<connections { go.signal() }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        let state = s.server.bufferState()
        // Unbounded, 48 bodies of 100 KB would be held at once (4.8 MB).
        #expect(state.pauses > 0)
        // Budget, plus per loop one overdraft request with its input buffer, one read and the slack.
        let bound = budget + 2 * (length + 3 * HTTPServerLimits.readBufferSize)
        #expect(state.peak <= bound, "peak \(state.peak) bytes over \(bound)")
        #expect(eventually { s.server.bufferState().paused == 0 && s.server.bufferState().held < 64 * 1024 })
    }

    @Test func parserReleasesADrainedLargeInputBuffer() {
        var parser = HTTPParser()
        let body = [UInt8](repeating: 0x61, count: 20_000)
        parser.append(Array(Self.head(40_000).utf8) + body)
        guard case .needMoreData = parser.next() else {
            Issue.record("expected needMoreData")
            return
        }
        // The input buffer was moved into the body and freed; the body's reservation remains.
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.retainedByteCount >= 40_000 && parser.retainedByteCount < 40_000 + 4096)
        parser.append(body)
        guard case .request(let request, _) = parser.next() else {
            Issue.record("expected a request")
            return
        }
        #expect(request.body.count == 40_000)
        #expect(parser.retainedByteCount <= 4096)
    }
}

enum HTTPServerLimits {
    static let readBufferSize = EventLoop.readBufferSize
}
