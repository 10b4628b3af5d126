import Dispatch
import Foundation
import InferenceCore
import ONNXRuntime
import Synchronization
import Telemetry
@testable import InferenceServer

/// y = x * 2 + 1 over rows of 4 floats; `gate`, when set, holds every run until signalled.
final class AffineBackend: ModelBackend, Sendable {
    let inputs = [ValueInfo(name: "x", dataType: .float32, shape: [nil, 4])]
    let outputs = [ValueInfo(name: "y", dataType: .float32, shape: [nil, 4])]
    let runs = Mutex<[Int]>([])
    let gate: DispatchSemaphore?

    init(gate: DispatchSemaphore? = nil) { self.gate = gate }

    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        gate?.wait()
        let x = feeds["x"]!
        runs.withLock { $0.append(x.shape[0]) }
        return ["y": Tensor(shape: x.shape, values: x.values(as: Float.self).map { $0 * 2 + 1 })]
    }
}

/// Builds a started in-process service on an ephemeral loopback port around `backend`.
func makeApplication(backend: any ModelBackend, name: String = "affine", maxBatchSize: Int = 8, tracing: TracingSetup? = nil,
                     configure: (inout Settings) -> Void = { _ in }) throws -> Application {
    var settings = Settings()
    settings.host = "127.0.0.1"
    settings.port = 0
    settings.shutdownDrainSeconds = 0
    settings.maxQueueDelayMs = 5
    settings.telemetryEnabled = false
    configure(&settings)
    let app = try Application(settings: settings, logger: Logger(label: "test"), environment: [:], tracing: tracing) { settings, observer in
        let inputs = backend.inputs.map(TensorMetadata.init)
        let metadata = ModelMetadata(name: name, version: "1", inputs: inputs, outputs: backend.outputs.map(TensorMetadata.init),
                                     maxBatchSize: ModelMetadata.isBatchable(inputs) ? maxBatchSize : 0)
        let batcher = DynamicBatcher(metadata: metadata, backend: backend, configuration: .init(
            maxBatchSize: settings.maxBatchSize, maxQueueDelayNanos: UInt64(settings.maxQueueDelayMs) * 1_000_000,
            maxQueueSize: settings.maxQueueSize, workerThreads: settings.workerThreads), observer: observer)
        batcher.start()
        return ModelRepository(entries: [
            ModelEntry(name: name, version: "1", state: .ready, metadata: metadata, batcher: batcher, description: "test model"),
            ModelEntry(name: "broken", version: "1", state: .failed("model.onnx: node 'n1' (Foo): unsupported op"),
                       metadata: nil, batcher: nil, description: nil),
        ])
    }
    try app.start()
    app.health.markModelsLoaded()
    return app
}
