#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import InferenceServer

/// The shutdown sequence keeps every request accepted before the listener closed.
///
/// Regression: the batchers used to start draining (which refuses new requests) the moment the
/// listener closed, so a request still arriving on an open connection, or still being decoded,
/// got 503 "server is shutting down" instead of its answer.
@Suite(.serialized) struct DrainRegressionTests {
    static let body = Array(#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#.utf8)

    /// Runs `app.shutdown()` on another thread; `wait()` returns its exit status.
    final class Shutdown: Sendable {
        private let status = Mutex<Int32?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(_ app: Application) {
            DispatchQueue.global().async { [self] in
                let code = app.shutdown()
                status.withLock { $0 = code }
                done.signal()
            }
        }

        func wait(seconds: Double = 20) -> Int32? {
            guard done.wait(timeout: .now() + seconds) == .success else { return nil }
            return status.withLock { $0 }
        }
    }

    /// True once connecting to `port` is refused (bounded).
    static func listenerClosed(_ port: Int) -> Bool {
        for _ in 0..<400 {
            if (try? TestClient(port: port)) == nil { return true }
            usleep(10_000)
        }
        return false
    }

    @Test func requestStillArrivingWhenTheListenerClosesCompletes() throws {
        let app = try makeApplication(backend: AffineBackend()) { $0.maxQueueDelayMs = 0 }
        let port = app.server.localPort
        let client = try TestClient(port: port)
        let head = "POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(Self.body.count)\r\n\r\n"
        client.send(Array(head.utf8) + Self.body[..<10])
        usleep(50_000)
        let shutdown = Shutdown(app)
        #expect(Self.listenerClosed(port))
        client.send(Array(Self.body[10...]))
        let response = try client.readResponse()
        #expect(response.status == 200, "\(response.text)")
        #expect(response.header("Connection") == "close")
        #expect(shutdown.wait() == 0)
    }

    @Test func queuedRequestRunsAtOnceWhenNothingElseCanArrive() throws {
        // A partial batch would wait 10 s for company; the drain releases it once no request can follow.
        let app = try makeApplication(backend: AffineBackend()) { $0.maxQueueDelayMs = 10_000 }
        let client = try TestClient(port: app.server.localPort)
        client.sendRequest("POST", "/v2/models/affine/infer", headers: [("Content-Type", "application/json")], body: Self.body)
        let batcher = app.repository.batchers[0]
        for _ in 0..<400 where batcher.queueDepth == 0 { usleep(5_000) }
        let started = Date()
        let shutdown = Shutdown(app)
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(shutdown.wait() == 0)
    }
}
