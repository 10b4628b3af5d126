import Foundation
import ONNXRuntime
import Synchronization
import Testing
@testable import InferenceCore

/// A backend computing y = 2x + 1 per element, recording batch sizes; it can be held closed.
final class DoublingBackend: ModelBackend, Sendable {
    let inputs = [ValueInfo(name: "x", dataType: .float32, shape: [nil, 3])]
    let outputs = [ValueInfo(name: "y", dataType: .float32, shape: [nil, 3])]
    let batchRows = Mutex<[Int]>([])
    let gate = DispatchSemaphore(value: 0)
    let gated: Bool

    init(gated: Bool = false) { self.gated = gated }

    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        if gated { gate.wait() }
        let x = feeds["x"]!
        batchRows.withLock { $0.append(x.shape[0]) }
        return ["y": Tensor(shape: x.shape, values: x.values(as: Float.self).map { 2 * $0 + 1 })]
    }
}

let rowMetadata = ModelMetadata(name: "double", version: "1",
                                inputs: [TensorMetadata(name: "x", datatype: .float32, shape: [-1, 3])],
                                outputs: [TensorMetadata(name: "y", datatype: .float32, shape: [-1, 3])],
                                maxBatchSize: 8)

/// Collects results from batcher threads.
final class Results: Sendable {
    let values = Mutex<[Int: Result<[Float], InferenceError>]>([:])
    let done = DispatchSemaphore(value: 0)

    func request(_ id: Int, rows: Int, deadline: UInt64? = nil, cancelled: @escaping @Sendable () -> Bool = { false }) -> BatchRequest {
        let x = (0..<(rows * 3)).map { Float(id * 100 + $0) }
        return BatchRequest(inputs: ["x": Tensor(shape: [rows, 3], values: x)], rows: rows, deadline: deadline,
                            isCancelled: cancelled) { result, _ in
            self.values.withLock { $0[id] = result.map { $0["y"]!.values(as: Float.self) } }
            self.done.signal()
        }
    }

    func wait(_ n: Int) -> Bool {
        for _ in 0..<n where done.wait(timeout: .now() + 10) == .timedOut { return false }
        return true
    }
}

@Suite struct DynamicBatcherTests {
    /// Thread names fit the kernel's 15 bytes and keep a worker's number, cutting the model's name
    /// (at a character, never inside one).
    @Test func threadNamesKeepTheWorkerNumber() {
        #expect(DynamicBatcher.threadName(model: "mlp") == "pd-batch-mlp")
        #expect(DynamicBatcher.threadName(model: "mlp", worker: 0) == "pd-batch-mlp-0")
        #expect(DynamicBatcher.threadName(model: "digits") == "pd-batch-digits")
        #expect(DynamicBatcher.threadName(model: "digits", worker: 1) == "pd-batch-digi-1")
        #expect(DynamicBatcher.threadName(model: "resnet50-large", worker: 12) == "pd-batch-res-12")
        #expect(DynamicBatcher.threadName(model: "modèle", worker: 3) == "pd-batch-mod-3")
        for model in ["mlp", "digits", "a-very-long-model-name", "ééééé"] {
            for worker in [nil, 0, 7, 123] {
                #expect(DynamicBatcher.threadName(model: model, worker: worker).utf8.count <= 15)
            }
        }
    }

    @Test func everyCallerReceivesExactlyItsOwnRows() throws {
        let backend = DoublingBackend(gated: true)
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 8, maxQueueDelayNanos: 50_000_000, maxQueueSize: 64, workerThreads: 1))
        batcher.start()
        defer { batcher.shutdown() }
        let results = Results()
        let rows = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1]
        for (id, r) in rows.enumerated() { try batcher.submit(results.request(id, rows: r)) }
        for _ in 0..<8 { backend.gate.signal() }
        #expect(results.wait(rows.count))
        let values = results.values.withLock { $0 }
        for (id, r) in rows.enumerated() {
            let expected = (0..<(r * 3)).map { 2 * Float(id * 100 + $0) + 1 }
            #expect(try values[id]?.get() == expected, "request \(id)")
        }
        let sizes = backend.batchRows.withLock { $0 }
        #expect(sizes.reduce(0, +) == rows.reduce(0, +))
        #expect(sizes.allSatisfy { $0 <= 8 })
        #expect(sizes.count < rows.count, "requests were batched: \(sizes)")
    }

    @Test func aWaitingWorkerFormsTheBatchWhenTheDelayEnds() throws {
        let backend = DoublingBackend()
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 8, maxQueueDelayNanos: 30_000_000, maxQueueSize: 64, workerThreads: 2))
        batcher.start()
        defer { batcher.shutdown() }
        let results = Results()
        let submitted = DynamicBatcher.monotonicNow()
        try batcher.submit(results.request(0, rows: 1))
        try batcher.submit(results.request(1, rows: 2))
        #expect(results.wait(2))
        #expect(DynamicBatcher.monotonicNow() - submitted >= 30_000_000, "the batch waited for the delay")
        #expect(backend.batchRows.withLock { $0 } == [3], "both requests ran in one batch")
    }

    @Test func drainRunsAPartialBatchAtOnce() throws {
        let backend = DoublingBackend()
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 8, maxQueueDelayNanos: 60_000_000_000, maxQueueSize: 64, workerThreads: 1))
        batcher.start()
        defer { batcher.shutdown() }
        let results = Results()
        for id in 0..<3 { try batcher.submit(results.request(id, rows: 1)) }
        usleep(20_000)
        #expect(backend.batchRows.withLock { $0 }.isEmpty, "nothing runs before the (one-minute) delay")
        batcher.drain()
        #expect(results.wait(3))
        #expect(backend.batchRows.withLock { $0 } == [3])
    }

    @Test func fullQueueRejectsAtOnceAndDrainRefusesNewWork() throws {
        let backend = DoublingBackend(gated: true)
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 1, maxQueueDelayNanos: 0, maxQueueSize: 2, workerThreads: 1))
        batcher.start()
        let results = Results()
        try batcher.submit(results.request(0, rows: 1))
        // Wait until the worker holds request 0 inside the (closed) model run.
        for _ in 0..<200 where batcher.batchesInFlight == 0 { usleep(5_000) }
        try batcher.submit(results.request(1, rows: 1))
        try batcher.submit(results.request(2, rows: 1))
        #expect(throws: InferenceError.self) { try batcher.submit(results.request(3, rows: 1)) }
        do { try batcher.submit(results.request(3, rows: 1)) } catch { #expect(error.code == .queueFull) }
        batcher.drain()
        do { try batcher.submit(results.request(4, rows: 1)) } catch { #expect(error.code == .draining) }
        for _ in 0..<3 { backend.gate.signal() }
        #expect(results.wait(3))
        #expect(batcher.waitUntilIdle(timeoutNanos: 5_000_000_000))
        #expect(results.values.withLock { $0.values.allSatisfy { (try? $0.get()) != nil } })
        batcher.shutdown()
    }

    @Test func expiredRequestsGetDeadlineExceededWithoutCompute() throws {
        let backend = DoublingBackend(gated: true)
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 1, maxQueueDelayNanos: 0, maxQueueSize: 8, workerThreads: 1))
        batcher.start()
        let results = Results()
        try batcher.submit(results.request(0, rows: 1))
        for _ in 0..<200 where batcher.batchesInFlight == 0 { usleep(5_000) }
        try batcher.submit(results.request(1, rows: 1, deadline: DynamicBatcher.monotonicNow() + 20_000_000))
        #expect(results.wait(1), "the expired request is answered while the worker is still busy")
        if case .failure(let e) = results.values.withLock({ $0[1] }) { #expect(e.code == .deadlineExceeded) } else { Issue.record("request 1 did not expire") }
        backend.gate.signal()
        #expect(results.wait(1))
        #expect(backend.batchRows.withLock { $0 } == [1], "only request 0 was computed")
        batcher.shutdown()
    }

    @Test func anIdleBatcherRarelyWakes() {
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: DoublingBackend(gated: false),
                                     configuration: .init(maxBatchSize: 1, maxQueueDelayNanos: 0, maxQueueSize: 8, workerThreads: 1))
        batcher.start()
        usleep(50_000)
        let idleStart = batcher.housekeepingRounds.load(ordering: .relaxed)
        usleep(400_000)
        // One wake-up a second while the queue is empty; polling every 50 ms would make eight.
        // (cancelledRequestsAreNotComputed covers the polling of a waiting request.)
        #expect(batcher.housekeepingRounds.load(ordering: .relaxed) - idleStart <= 1)
        batcher.shutdown()
    }

    @Test func cancelledRequestsAreNotComputed() throws {
        let backend = DoublingBackend(gated: true)
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 1, maxQueueDelayNanos: 0, maxQueueSize: 8, workerThreads: 1))
        batcher.start()
        let results = Results()
        let cancelled = Atomic<Bool>(false)
        try batcher.submit(results.request(0, rows: 1))
        for _ in 0..<200 where batcher.batchesInFlight == 0 { usleep(5_000) }
        try batcher.submit(results.request(1, rows: 1, cancelled: { cancelled.load(ordering: .relaxed) }))
        cancelled.store(true, ordering: .relaxed)
        #expect(results.wait(1))
        if case .failure(let e) = results.values.withLock({ $0[1] }) { #expect(e.code == .cancelled) } else { Issue.record("request 1 was not cancelled") }
        backend.gate.signal()
        #expect(results.wait(1))
        #expect(backend.batchRows.withLock { $0 } == [1])
        batcher.shutdown()
    }

    @Test func workerThreadsRunBatchesAtOnce() throws {
        let backend = DoublingBackend(gated: true)
        let batcher = DynamicBatcher(metadata: rowMetadata, backend: backend,
                                     configuration: .init(maxBatchSize: 1, maxQueueDelayNanos: 0, maxQueueSize: 8, workerThreads: 3))
        batcher.start()
        let results = Results()
        for id in 0..<3 { try batcher.submit(results.request(id, rows: 1)) }
        for _ in 0..<400 where batcher.batchesInFlight < 3 { usleep(5_000) }
        #expect(batcher.batchesInFlight == 3)
        for _ in 0..<3 { backend.gate.signal() }
        #expect(results.wait(3))
        batcher.shutdown()
    }
}
