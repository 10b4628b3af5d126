import Dispatch
import Foundation
import Synchronization
import Testing
@testable import InferenceServer

/// The v2 API end to end over a real loopback socket, with a test backend.
@Suite(.serialized) struct InferenceServiceTests {
    static let body = #"{"id":"r1","inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}"#

    @Test func probesAndServerMetadata() throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        for path in ["/healthz", "/livez", "/readyz", "/v2/health/live", "/v2/health/ready"] {
            #expect(try c.request("GET", path).status == 200, "\(path)")
        }
        let meta = try c.request("GET", "/v2").json
        #expect(meta?["name"] as? String == "pd-inference")
        #expect((meta?["extensions"] as? [String])?.contains("binary_tensor_data") == true)
    }

    @Test func modelMetadataAndReadiness() throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        for path in ["/v2/models/affine", "/v2/models/affine/versions/1"] {
            let meta = try c.request("GET", path).json
            #expect(meta?["name"] as? String == "affine")
            #expect(meta?["versions"] as? [String] == ["1"])
            let inputs = meta?["inputs"] as? [[String: Any]]
            #expect(inputs?.first?["datatype"] as? String == "FP32")
            #expect(inputs?.first?["shape"] as? [Int] == [-1, 4])
        }
        #expect(try c.request("GET", "/v2/models/affine/ready").status == 200)
        #expect(try c.request("GET", "/v2/models/affine/versions/1/ready").status == 200)
        let broken = try c.request("GET", "/v2/models/broken")
        #expect(broken.status == 200)
        #expect((broken.json?["error"] as? String)?.contains("unsupported op") == true)
        #expect(broken.json?["ready"] as? Bool == false)
        #expect(try c.request("GET", "/v2/models/broken/ready").status == 503)
        let missing = try c.request("GET", "/v2/models/nope")
        #expect(missing.status == 404)
        #expect((missing.json?["error"] as? String)?.contains("unknown model 'nope'") == true)
        #expect(try c.request("GET", "/v2/models/affine/versions/7").status == 404)
    }

    @Test func jsonInference() throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        let r = try c.request("POST", "/v2/models/affine/infer", json: Self.body)
        #expect(r.status == 200, "\(r.text)")
        let json = r.json
        #expect(json?["model_name"] as? String == "affine")
        #expect(json?["model_version"] as? String == "1")
        #expect(json?["id"] as? String == "r1")
        let out = (json?["outputs"] as? [[String: Any]])?.first
        #expect(out?["name"] as? String == "y")
        #expect(out?["shape"] as? [Int] == [2, 4])
        #expect((out?["data"] as? [Double]) == [3, 5, 7, 9, 11, 13, 15, 17])
        #expect(r.header("Server-Timing")?.contains("queue;dur=") == true)
        // No Content-Type at all, as tritonclient sends it.
        let bare = try c.request("POST", "/v2/models/affine/versions/1/infer", body: Array(Self.body.utf8))
        #expect(bare.status == 200)
    }

    @Test func binaryInference() throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        let header = #"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#
        let values: [Float] = [0, 1, 2, 3]
        let payload = values.withUnsafeBytes { Array($0) }
        let r = try c.request("POST", "/v2/models/affine/infer",
                              headers: [("Inference-Header-Content-Length", "\(header.utf8.count)"), ("Content-Type", "application/octet-stream")],
                              body: Array(header.utf8) + payload)
        #expect(r.status == 200, "\(r.text)")
        let headerLength = Int(r.header("Inference-Header-Content-Length") ?? "") ?? -1
        #expect(headerLength > 0 && headerLength < r.body.count)
        guard headerLength > 0 && headerLength < r.body.count else { return }
        let tail = Array(r.body[headerLength...])
        let floats = tail.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats == [1, 3, 5, 7])
    }

    @Test(arguments: [
        ("{not json", 400, "JSON"),
        (#"{"inputs":[{"name":"x","shape":[3,4],"datatype":"FP32","data":[1,2,3,4]}]}"#, 422, "x"),
        (#"{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}"#, 422, "shape"),
        (#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]}"#, 422, "datatype"),
        (#"{"inputs":[{"name":"z","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#, 422, "'z'"),
        (#"{"inputs":[]}"#, 400, "inputs"),
        (#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},{"name":"w","shape":[1],"datatype":"FP32","data":[1]}]}"#, 422, "'w'"),
        (#"{"inputs":[{"name":"x","shape":[9,4],"datatype":"FP32","data":[1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4]}]}"#, 422, "at most 8"),
        (#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]}"#, 422, "nope"),
    ])
    func badRequestsGetAClearError(body: String, status: Int, mentions: String) throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        let r = try c.request("POST", "/v2/models/affine/infer", json: body)
        #expect(r.status == status, "\(r.text)")
        #expect(r.header("Content-Type") == "application/json")
        let message = r.json?["error"] as? String ?? ""
        #expect(message.contains(mentions), "\(message)")
        // The server keeps serving on the same connection.
        #expect(try c.request("POST", "/v2/models/affine/infer", json: Self.body).status == 200)
    }

    @Test func mediaTypesAcceptedForInference() {
        for accepted in ["", " ", "application/json", "Application/JSON; charset=utf-8", " text/plain ;charset=UTF-8",
                         "application/octet-stream", "application/vnd.sagemaker-triton.binary+json",
                         "application/x-www-form-urlencoded", "\tapplication/json\t", ";charset=utf-8"] {
            #expect(InferenceService.acceptsContentType(accepted), "'\(accepted)'")
        }
        for refused in ["application/xml", "application/jsonx", "application/jso", "json", "multipart/form-data; boundary=x",
                        "text/plain2", "application/json,text/plain", "applicatioN/octet-streaM x"] {
            #expect(!InferenceService.acceptsContentType(refused), "'\(refused)'")
        }
    }

    @Test func wrongMethodMediaTypeAndUnknownRoutes() throws {
        let app = try makeApplication(backend: AffineBackend())
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        let get = try c.request("GET", "/v2/models/affine/infer")
        #expect(get.status == 405)
        #expect(get.header("Allow") == "POST")
        let xml = try c.request("POST", "/v2/models/affine/infer", headers: [("Content-Type", "application/xml")], body: Array(Self.body.utf8))
        #expect(xml.status == 415)
        #expect(try c.request("GET", "/nowhere").status == 404)
        #expect(try c.request("POST", "/v2/models/no-such/infer", json: Self.body).status == 404)
        #expect(try c.request("POST", "/v2/models/broken/infer", json: Self.body).status == 503)
        let escape = try c.request("GET", "/v2/models/..%2F..%2Fetc/ready")
        #expect(escape.status == 400 || escape.status == 404)
    }

    @Test func concurrentClientsAreBatchedAndEachGetsItsOwnRows() throws {
        let backend = AffineBackend()
        let app = try makeApplication(backend: backend) { $0.maxQueueDelayMs = 20; $0.workerThreads = 1 }
        defer { _ = app.shutdown() }
        let port = app.server.localPort
        let failures = Mutex<[String]>([])
        // One thread per client, so all 16 are in flight at once however many cores there are.
        let group = DispatchGroup()
        for i in 0..<16 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let c = try TestClient(port: port)
                    let base = Float(i * 10)
                    let body = #"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[\#(base),\#(base + 1),\#(base + 2),\#(base + 3)]}]}"#
                    let r = try c.request("POST", "/v2/models/affine/infer", json: body)
                    let data = ((r.json?["outputs"] as? [[String: Any]])?.first?["data"] as? [Double]) ?? []
                    let want = (0..<4).map { Double((base + Float($0)) * 2 + 1) }
                    if data != want { failures.withLock { $0.append("client \(i): \(r.status) \(data)") } }
                } catch {
                    failures.withLock { $0.append("client \(i): \(error)") }
                }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let runs = backend.runs.withLock { $0 }
        #expect(runs.reduce(0, +) == 16)
        #expect(runs.count < 16, "requests shared batches: \(runs)")
    }

    @Test func queueFullAnswers503WithRetryAfter() throws {
        let gate = DispatchSemaphore(value: 0)
        let app = try makeApplication(backend: AffineBackend(gate: gate)) {
            $0.maxQueueSize = 1; $0.workerThreads = 1; $0.maxBatchSize = 1; $0.maxQueueDelayMs = 0
        }
        defer { for _ in 0..<4 { gate.signal() }; _ = app.shutdown() }
        let port = app.server.localPort
        let first = try TestClient(port: port)
        first.sendRequest("POST", "/v2/models/affine/infer", body: Array(Self.body.utf8))
        let batcher = app.repository.batchers[0]
        for _ in 0..<400 where batcher.batchesInFlight == 0 { usleep(5_000) }
        let second = try TestClient(port: port)
        second.sendRequest("POST", "/v2/models/affine/infer", body: Array(Self.body.utf8))
        for _ in 0..<400 where batcher.queueDepth == 0 { usleep(5_000) }
        let third = try TestClient(port: port).request("POST", "/v2/models/affine/infer", json: Self.body)
        #expect(third.status == 503)
        #expect(third.header("Retry-After") == "1")
        #expect((third.json?["error"] as? String)?.contains("queue is full") == true)
        gate.signal(); gate.signal()
        #expect(try first.readResponse().status == 200)
        #expect(try second.readResponse().status == 200)
    }

    @Test func requestTimeoutGives504() throws {
        let gate = DispatchSemaphore(value: 0)
        let app = try makeApplication(backend: AffineBackend(gate: gate)) {
            $0.workerThreads = 1; $0.maxBatchSize = 1; $0.maxQueueDelayMs = 0
        }
        defer { for _ in 0..<4 { gate.signal() }; _ = app.shutdown() }
        let port = app.server.localPort
        let first = try TestClient(port: port)
        first.sendRequest("POST", "/v2/models/affine/infer", body: Array(Self.body.utf8))
        let batcher = app.repository.batchers[0]
        for _ in 0..<400 where batcher.batchesInFlight == 0 { usleep(5_000) }
        let timed = #"{"parameters":{"timeout":50000},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#
        let r = try TestClient(port: port).request("POST", "/v2/models/affine/infer", json: timed)
        #expect(r.status == 504, "\(r.text)")
        gate.signal()
        #expect(try first.readResponse().status == 200)
        #expect(app.repository.batchers[0].queueDepth == 0)
    }

    @Test func drainFinishesInFlightWorkAndTurnsReadinessOff() throws {
        let gate = DispatchSemaphore(value: 0)
        let app = try makeApplication(backend: AffineBackend(gate: gate)) { $0.shutdownDrainSeconds = 0.3; $0.maxQueueDelayMs = 0 }
        let port = app.server.localPort
        let inFlight = try TestClient(port: port)
        inFlight.sendRequest("POST", "/v2/models/affine/infer", body: Array(Self.body.utf8))
        for _ in 0..<400 where app.repository.batchers[0].batchesInFlight == 0 { usleep(5_000) }
        let probe = try TestClient(port: port)
        let exitCode = Mutex<Int32?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let code = app.shutdown()
            exitCode.withLock { $0 = code }
            done.signal()
        }
        // Readiness turns off as soon as the shutdown begins (on another thread; allow for a busy machine).
        var ready = try probe.request("GET", "/readyz")
        for _ in 0..<200 where ready.status == 200 {
            usleep(10_000)
            ready = try probe.request("GET", "/readyz")
        }
        #expect(ready.status == 503)
        #expect(try probe.request("GET", "/livez").status == 200)
        gate.signal()
        let answer = try inFlight.readResponse()
        #expect(answer.status == 200)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(exitCode.withLock { $0 } == 0)
    }
}
