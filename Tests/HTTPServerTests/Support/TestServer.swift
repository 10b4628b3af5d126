import Dispatch
import Foundation
import Synchronization
@testable import HTTPServer

/// A one-shot gate a handler can wait on from a background thread.
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func open() { semaphore.signal() }
    func wait(timeout: Double = 20) -> Bool { semaphore.wait(timeout: .now() + timeout) == .success }
}

/// The cancellation tokens of requests that reached `/hang`.
final class TokenBox: Sendable {
    let tokens = Mutex<[CancellationToken]>([])
    var first: CancellationToken? { tokens.withLock { $0.first } }
}

final class Arrivals: Sendable {
    let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
}

/// A server on an ephemeral 127.0.0.1 port with the routes the end-to-end tests use.
final class TestServer {
    let server: HTTPServer
    let gate = Gate()
    let hung = TokenBox()
    /// Requests that reached `/gated`.
    let gatedArrivals = Arrivals()
    var port: Int { server.localPort }

    static let big: [UInt8] = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }

    init(_ configure: (inout HTTPServer.Configuration) -> Void = { _ in }) throws {
        var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let router = Router()
        let gate = self.gate
        let hung = self.hung
        let arrivals = self.gatedArrivals
        router.get("/hello") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "hello") }
        router.post("/echo") { request, _ in HTTPResponse(status: .ok, body: request.body) }
        router.get("/big") { _, _ in HTTPResponse(status: .ok, body: TestServer.big) }
        router.get("/context") { _, context in
            HTTPResponse(status: .ok, contentType: "text/plain",
                         body: "\(context.requestID) \(context.remoteAddress) \(context.localPort)")
        }
        router.onDeferred(.GET, "/deferred") { _, _, completion in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                completion(HTTPResponse(status: .ok, contentType: "text/plain", body: "deferred"))
            }
        }
        router.onDeferred(.GET, "/gated") { _, _, completion in
            arrivals.count.wrappingAdd(1, ordering: .relaxed)
            DispatchQueue.global().async {
                _ = gate.wait()
                completion(HTTPResponse(status: .ok, contentType: "text/plain", body: "gated"))
            }
        }
        router.onDeferred(.POST, "/gated") { request, _, completion in
            arrivals.count.wrappingAdd(1, ordering: .relaxed)
            DispatchQueue.global().async {
                _ = gate.wait()
                completion(HTTPResponse(status: .ok, contentType: "text/plain", body: "\(request.body.count)"))
            }
        }
        // Answers at once, then again once the gate opens: the second answer must go nowhere.
        router.onDeferred(.GET, "/twice") { _, _, completion in
            completion(HTTPResponse(status: .ok, contentType: "text/plain", body: "first"))
            DispatchQueue.global().async {
                _ = gate.wait()
                completion(HTTPResponse(status: .ok, contentType: "text/plain", body: "late"))
                arrivals.count.wrappingAdd(1, ordering: .relaxed)
            }
        }
        router.onDeferred(.GET, "/hang") { _, context, _ in
            hung.tokens.withLock { $0.append(context.cancellation) }
        }
        server = HTTPServer(configuration: configuration, responder: router)
        try server.start()
    }

    deinit {
        gate.open()
        server.shutdown()
    }

    func client(timeout: Double = 10) throws -> TestClient { try TestClient(port: port, timeout: timeout) }
}
