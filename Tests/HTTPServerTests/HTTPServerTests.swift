#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import HTTPServer

/// End-to-end over real loopback sockets. Serialized so timing-sensitive cases do not compete with
/// each other on a loaded machine; every wait is bounded and generous.
@Suite("HTTPServer end to end", .serialized)
struct HTTPServerTests {
    @Test func getAndPostOnOneKeepAliveConnection() throws {
        let s = try TestServer()
        let c = try s.client()
        let first = try c.request("GET", "/hello")
        #expect(first.status == 200)
        #expect(first.bodyText == "hello")
        #expect(first.header("Content-Length") == "5")
        #expect(first.header("Server") == "pd-inference")
        #expect(first.header("Content-Type") == "text/plain")
        #expect(first.header("Connection") == nil)
        let date = try #require(first.header("Date"))
        #expect(date.hasSuffix(" GMT") && date.count == 29)
        let id1 = try #require(first.header("X-Request-Id"))
        let second = try c.request("POST", "/echo", body: "{\"x\":1}")
        #expect(second.status == 200)
        #expect(second.bodyText == "{\"x\":1}")
        #expect(second.header("X-Request-Id") != id1)
        let missing = try c.request("GET", "/nope")
        #expect(missing.status == 404)
        #expect(missing.bodyText.contains("\"error\""))
        #expect(s.server.openConnections == 1)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird" + "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().bodyText == "deferred")
        #expect(try c.readResponse().bodyText == "hello")
        #expect(try c.readResponse().bodyText == "third")
        let head = try c.readResponse(head: true)
        #expect(head.header("Content-Length") == "5")
        #expect(try c.readResponse().bodyText == "deferred")
    }

    @Test func inputArrivingWhileARequestIsHandledWaitsWithoutSpinningTheLoop() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("GET /gated HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { s.gatedArrivals.value == 1 && s.server.inFlightRequests == 1 })
        // The next request arrives while the first is in flight: the loop stops watching the
        // connection's input (level-triggered epoll would report it on every wait otherwise).
        try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(50_000)
        let before = s.server.loopCPUNanoseconds
        usleep(300_000)
        let spent = s.server.loopCPUNanoseconds - before
        #expect(spent < 60_000_000, "event loops used \(spent / 1_000_000) ms of CPU in 300 ms while waiting")
        s.gate.open()
        #expect(try c.readResponse().bodyText == "gated")
        #expect(try c.readResponse().bodyText == "hello")
        #expect(try c.request("GET", "/hello").bodyText == "hello")
    }

    @Test func headSendsHeadersOnly() throws {
        let s = try TestServer()
        let c = try s.client()
        let head = try c.request("HEAD", "/hello")
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "5")
        #expect(head.body.isEmpty)
        // Had body bytes followed, this response would not parse.
        #expect(try c.request("GET", "/hello").bodyText == "hello")
    }

    @Test func expectContinue() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try c.readResponse()
        #expect(interim.status == 100)
        try c.send("data")
        let final = try c.readResponse()
        #expect(final.status == 200)
        #expect(final.bodyText == "data")
    }

    @Test func connectionCloseIsHonoured() throws {
        let s = try TestServer()
        let c = try s.client()
        let response = try c.request("GET", "/hello", headers: ["Connection": "close"])
        #expect(response.header("Connection") == "close")
        #expect(c.waitForClose())
        #expect(eventually { s.server.openConnections == 0 && s.server.inFlightRequests == 0 })
    }

    @Test func http10KeepAliveRules() throws {
        let s = try TestServer()
        let plain = try s.client()
        try plain.send("GET /hello HTTP/1.0\r\n\r\n")
        let closing = try plain.readResponse()
        #expect(closing.header("Connection") == "close")
        #expect(plain.waitForClose())

        let kept = try s.client()
        try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try kept.readResponse().header("Connection") == "keep-alive")
        try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try kept.readResponse().bodyText == "hello")
    }

    @Test func deferredCompletionDoesNotBlockTheLoop() throws {
        // One loop: if the pending request blocked it, the other connection could not be served.
        let s = try TestServer { $0.eventLoopCount = 1 }
        let waiting = try s.client(timeout: 30)
        try waiting.send("GET /gated HTTP/1.1\r\nHost: x\r\n\r\n")
        let other = try s.client()
        for _ in 0..<5 { #expect(try other.request("GET", "/hello").bodyText == "hello") }
        #expect(try other.request("GET", "/deferred").bodyText == "deferred")
        // The counter drops just after a response is handed to the kernel, so allow a moment.
        #expect(eventually { s.gatedArrivals.value == 1 && s.server.inFlightRequests == 1 })
        s.gate.open()
        #expect(try waiting.readResponse().bodyText == "gated")
        #expect(try waiting.request("GET", "/hello").status == 200)
    }

    @Test func aSecondCompletionNeverAnswersALaterRequest() throws {
        let s = try TestServer { $0.eventLoopCount = 1 }
        let c = try s.client()
        #expect(try c.request("GET", "/twice").bodyText == "first")
        // More requests on the connection while the first one's completion is still held, then
        // one that stays pending: the first request's second answer arrives during it.
        for path in ["/hello", "/deferred", "/hello"] { #expect(try c.request("GET", path).status == 200) }
        try c.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { s.hung.first != nil })
        s.gate.open()
        #expect(eventually { s.gatedArrivals.value == 1 })
        #expect(c.staysOpen(for: 0.3), "the pending request got an answer it never gave")
    }

    @Test func requestContextAndRequestID() throws {
        let s = try TestServer()
        let c = try s.client()
        let response = try c.request("GET", "/context", headers: ["X-Request-Id": "client-id-42"])
        #expect(response.header("X-Request-Id") == "client-id-42")
        let parts = response.bodyText.split(separator: " ").map(String.init)
        #expect(parts.count == 3)
        #expect(parts.first == "client-id-42")
        #expect(parts.count == 3 && parts[1].hasPrefix("127.0.0.1:"))
        #expect(parts.last == String(s.port))
        let generated = try c.request("GET", "/context", headers: ["X-Request-Id": "has space"])
        let id = try #require(generated.header("X-Request-Id"))
        #expect(id != "has space" && !id.isEmpty)
        #expect(generated.bodyText.hasPrefix(id + " "))
    }

    @Test func largeBodiesBothWays() throws {
        let s = try TestServer()
        let c = try s.client(timeout: 30)
        let big = try c.request("GET", "/big")
        #expect(big.body.count == TestServer.big.count)
        #expect(big.body == TestServer.big)
        let upload = String(repeating: "0123456789abcdef", count: 65536)
        let echoed = try c.request("POST", "/echo", body: upload)
        #expect(echoed.body.count == upload.utf8.count)
        #expect(echoed.bodyText == upload)
        // A pipelined request after a large response still comes back.
        #expect(try c.request("GET", "/hello").bodyText == "hello")
    }

    @Test func chunkedUploadOverTheWire() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nabcd\r\n")
        try c.send("2\r\nef\r\n0\r\nX-T: 1\r\n\r\n")
        #expect(try c.readResponse().bodyText == "abcdef")
    }

    // MARK: Limits and timeouts

    @Test func slowHeadersGet408() throws {
        let s = try TestServer { $0.headerReadTimeout = 0.5 }
        let c = try s.client(timeout: 15)
        try c.send("GET /hello HTTP/1.1\r\n")
        let drip = Array("X-Slow: \(String(repeating: "a", count: 200))\r\n".utf8)
        var gotData = false
        for i in 0..<150 {  // a byte every 100 ms, for at most 15 s
            if (try? c.send([drip[i % drip.count]])) == nil { break }
            var pfd = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) > 0 {
                gotData = true
                break
            }
        }
        #expect(gotData)
        let response = try c.readResponse()
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(c.waitForClose())
    }

    @Test func slowBodyGets408() throws {
        let s = try TestServer { $0.headerReadTimeout = 0.5 }
        let c = try s.client(timeout: 15)
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        let response = try c.readResponse()
        #expect(response.status == 408)
        #expect(c.waitForClose())
    }

    @Test func silentConnectionIsClosedWithoutResponse() throws {
        let s = try TestServer { $0.headerReadTimeout = 0.3 }
        let c = try s.client()
        #expect(c.waitForClose())
        #expect(eventually { s.server.openConnections == 0 })
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let s = try TestServer { $0.idleTimeout = 0.3 }
        let c = try s.client()
        #expect(try c.request("GET", "/hello").status == 200)
        #expect(c.waitForClose())
        #expect(eventually { s.server.openConnections == 0 })
    }

    @Test func oversizedBodyGets413() throws {
        let s = try TestServer { $0.maxBodyBytes = 100 }
        let byLength = try s.client()
        try byLength.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        let first = try byLength.readResponse()
        #expect(first.status == 413)
        #expect(first.header("Connection") == "close")
        #expect(first.bodyText.contains("\"error\""))
        #expect(byLength.waitForClose())

        let chunked = try s.client()
        try chunked.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n"
            + String(repeating: "z", count: 128) + "\r\n")
        #expect(try chunked.readResponse().status == 413)
        #expect(chunked.waitForClose())
    }

    @Test func oversizedHeadGets431() throws {
        let s = try TestServer { $0.maxHeaderBytes = 1024 }
        let c = try s.client()
        try c.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 2000))\r\n\r\n")
        #expect(try c.readResponse().status == 431)
        #expect(c.waitForClose())
    }

    @Test func garbageGets400AndClose() throws {
        let rejected = Mutex<[Int]>([])
        let s = try TestServer { $0.rejectionObserver = { status in rejected.withLock { $0.append(status.code) } } }
        let c = try s.client()
        try c.send("HELLO THERE\r\n\r\n")
        let response = try c.readResponse()
        #expect(response.status == 400)
        #expect(response.header("Content-Type") == "application/json")
        #expect(c.waitForClose())
        #expect(rejected.withLock { $0 } == [400])
    }

    @Test func connectionsBeyondTheLimitGet503() throws {
        let changes = Mutex<[Int]>([])
        let s = try TestServer {
            $0.maxConnections = 2
            $0.connectionObserver = { delta, _ in changes.withLock { $0.append(delta) } }
        }
        let a = try s.client()
        let b = try s.client()
        #expect(try a.request("GET", "/hello").status == 200)
        #expect(try b.request("GET", "/hello").status == 200)
        let c = try s.client()
        let refused = try c.readResponse()
        #expect(refused.status == 503)
        #expect(refused.header("Connection") == "close")
        #expect(c.waitForClose())
        a.close()
        #expect(eventually { s.server.openConnections == 1 })
        let d = try s.client()
        #expect(try d.request("GET", "/hello").status == 200)
        // Loops report independently, so only the multiset of changes is certain.
        #expect(eventually { changes.withLock { $0.sorted() } == [-1, 1, 1, 1] })
    }

    @Test func clientDisconnectCancelsThePendingRequest() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { s.hung.first != nil })
        let token = try #require(s.hung.first)
        #expect(!token.isCancelled)
        #expect(s.server.inFlightRequests == 1)
        c.close()
        #expect(eventually { token.isCancelled })
        #expect(eventually { s.server.inFlightRequests == 0 && s.server.openConnections == 0 })
    }

    // MARK: Lifecycle

    @Test func drainingClosesIdleConnectionsAndAddsConnectionClose() throws {
        let s = try TestServer()
        let idle = try s.client()
        #expect(try idle.request("GET", "/hello").header("Connection") == nil)
        // Idle too, but its next request is on its way as the drain begins: it is answered (with
        // `Connection: close`), not cut off.
        let sending = try s.client()
        #expect(try sending.request("GET", "/hello").status == 200)
        let busy = try s.client(timeout: 30)
        try busy.send("GET /gated HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { s.gatedArrivals.value == 1 })
        s.server.beginDraining()
        #expect(s.server.isDraining)
        usleep(50_000)  // the loops have started the drain (well within the grace)
        let late = try sending.request("GET", "/hello")
        #expect(late.status == 200 && late.header("Connection") == "close")
        #expect(sending.waitForClose())
        #expect(idle.waitForClose())
        s.gate.open()
        let answer = try busy.readResponse()
        #expect(answer.bodyText == "gated")
        #expect(answer.header("Connection") == "close")
        #expect(busy.waitForClose())
        let new = try s.client()
        #expect(try new.request("GET", "/hello").header("Connection") == "close")
        #expect(new.waitForClose())
    }

    @Test(arguments: [true, false])
    func stopAcceptingKeepsOpenConnectionsServed(reusePort: Bool) throws {
        let s = try TestServer { $0.reusePort = reusePort }
        let open = try s.client()
        #expect(try open.request("GET", "/hello").status == 200)
        s.server.stopAccepting()
        #expect(throws: TestClient.Failure.self) { _ = try TestClient(port: s.port) }
        #expect(try open.request("GET", "/hello").status == 200)
        #expect(try open.request("GET", "/deferred").bodyText == "deferred")
    }

    @Test func startFailsClearlyWhenThePortIsTaken() throws {
        let first = try TestServer()
        let second = HTTPServer(configuration: .init(host: "127.0.0.1", port: first.port), responder: Router())
        do {
            try second.start()
            Issue.record("second server started on a taken port")
        } catch let error as HTTPServerError {
            #expect(error.code == .addressInUse)
            #expect(error.description.contains("127.0.0.1:\(first.port)"))
        }
        #expect(try first.client().request("GET", "/hello").status == 200)
    }

    @Test func shutdownCancelsAndJoins() throws {
        let s = try TestServer()
        let c = try s.client()
        try c.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { s.hung.first != nil })
        s.server.shutdown()
        #expect(s.hung.first?.isCancelled == true)
        #expect(c.waitForClose())
        #expect(s.server.openConnections == 0)
        s.server.shutdown()
    }

    @Test func manyConnectionsAcrossLoops() throws {
        let s = try TestServer { $0.eventLoopCount = 3 }
        let group = DispatchGroup()
        let failures = Atomic<Int>(0)
        let port = s.port
        for _ in 0..<16 {
            DispatchQueue.global().async(group: group) {
                do {
                    let c = try TestClient(port: port)
                    for _ in 0..<25 where try c.request("GET", "/hello").bodyText != "hello" {
                        failures.wrappingAdd(1, ordering: .relaxed)
                    }
                } catch {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(eventually { s.server.openConnections == 0 && s.server.inFlightRequests == 0 })
    }
}
