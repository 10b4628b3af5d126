import Dispatch
import Foundation
import InferenceCore
import ONNXRuntime
import Synchronization
import Telemetry
import Testing
@testable import InferenceServer

/// The bundled models served by the real server, loaded from the repository's `models/` folder.
@Suite(.serialized) struct BundledModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func startServer(_ configure: (inout Settings) -> Void = { _ in }) throws -> Application {
        var settings = Settings()
        settings.host = "127.0.0.1"
        settings.port = 0
        settings.shutdownDrainSeconds = 0
        settings.telemetryEnabled = false
        settings.modelRepository = root.appendingPathComponent("models").path
        configure(&settings)
        let app = try Application(settings: settings, logger: Logger(label: "test"), environment: [:])
        try app.start()
        return app
    }

    static func body(_ rows: [[Float]], width: Int) -> String {
        let data = rows.flatMap { $0 }.map { "\($0)" }.joined(separator: ",")
        return #"{"inputs":[{"name":"input","shape":[\#(rows.count),\#(width)],"datatype":"FP32","data":[\#(data)]}]}"#
    }

    static func output(_ response: TestClient.Response, _ name: String) -> [Double] {
        let outputs = response.json?["outputs"] as? [[String: Any]] ?? []
        return outputs.first { $0["name"] as? String == name }?["data"] as? [Double] ?? []
    }

    @Test func everyBundledModelLoadsAndIsReady() throws {
        let app = try Self.startServer()
        defer { _ = app.shutdown() }
        #expect(Set(app.repository.entries.map(\.name)) == ["cnn", "digits", "mlp"])
        #expect(app.repository.allReady)
        #expect(app.health.isReady)
        let c = try TestClient(port: app.server.localPort)
        let meta = try c.request("GET", "/v2/models/cnn").json
        #expect((meta?["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int] == [-1, 1, 28, 28])
        let image = [Float](repeating: 0.25, count: 784)
        let r = try c.request("POST", "/v2/models/cnn/infer",
                              json: #"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[\#(image.map { "\($0)" }.joined(separator: ","))]}]}"#)
        #expect(r.status == 200, "\(r.text)")
        let probabilities = Self.output(r, "output")
        #expect(probabilities.count == 10)
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-4)
    }

    @Test func digitsClassifiesTheHeldOutSplitAsWellAsOnnxruntime() throws {
        let url = try #require(Bundle.module.url(forResource: "digits_holdout", withExtension: "json", subdirectory: "Fixtures"))
        let holdout = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let inputs = try #require(holdout["inputs"] as? [[Double]])
        let labels = try #require(holdout["labels"] as? [Int])
        let reference = try #require(holdout["onnxruntime_accuracy"] as? Double)
        let app = try Self.startServer()
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        var correct = 0
        var index = 0
        while index < inputs.count {
            let rows = inputs[index..<min(index + 30, inputs.count)].map { $0.map(Float.init) }
            let r = try c.request("POST", "/v2/models/digits/infer", json: Self.body(Array(rows), width: 64))
            #expect(r.status == 200, "\(r.text)")
            let predicted = Self.output(r, "label").map { Int($0) }
            #expect(predicted.count == rows.count)
            for (offset, label) in predicted.enumerated() where label == labels[index + offset] { correct += 1 }
            index += rows.count
        }
        let accuracy = Double(correct) / Double(labels.count)
        print("digits held-out accuracy: pd-inference \(accuracy) (\(correct)/\(labels.count)), onnxruntime \(reference)")
        #expect(abs(accuracy - reference) < 1e-9)
        #expect(accuracy > 0.9)
    }

    @Test func batchedAnswersEqualUnbatchedAnswers() throws {
        let app = try Self.startServer { $0.maxBatchSize = 32; $0.maxQueueDelayMs = 5; $0.workerThreads = 2; $0.maxQueueSize = 256 }
        defer { _ = app.shutdown() }
        let session = try InferenceSession(path: Self.root.appendingPathComponent("models/mlp/1/model.onnx").path)
        var generator = SystemRandomNumberGenerator()
        let inputs: [[Float]] = (0..<64).map { _ in (0..<784).map { _ in Float.random(in: -1...1, using: &generator) } }
        let expected: [[Float]] = try inputs.map { row in
            try session.run(["input": Tensor(shape: [1, 784], values: row)])["output"]!.values(as: Float.self)
        }
        let port = app.server.localPort
        let failures = Mutex<[String]>([])
        let worst = Mutex<Double>(0)
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            do {
                let r = try TestClient(port: port).request("POST", "/v2/models/mlp/infer", json: Self.body([inputs[i]], width: 784))
                let got = Self.output(r, "output")
                guard r.status == 200, got.count == 10 else {
                    failures.withLock { $0.append("client \(i): \(r.status) \(r.text)") }
                    return
                }
                let diff = zip(got, expected[i]).map { abs($0 - Double($1)) }.max() ?? 0
                worst.withLock { $0 = max($0, diff) }
            } catch {
                failures.withLock { $0.append("client \(i): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        print("batched vs unbatched mlp outputs: largest difference \(worst.withLock { $0 })")
        #expect(worst.withLock { $0 } <= 1e-6)
    }
}
