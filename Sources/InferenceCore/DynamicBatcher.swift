#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ONNXRuntime
import Synchronization

/// One request handed to a batcher.
public struct BatchRequest: Sendable {
    /// Validated inputs by name.
    public var inputs: [String: Tensor]
    /// Rows along the batch dimension (1 for a model without one).
    public var rows: Int
    /// Monotonic nanoseconds after which the request must not be computed.
    public var deadline: UInt64?
    /// Polled while queued; a cancelled request leaves the queue without being computed.
    public var isCancelled: @Sendable () -> Bool
    /// Opaque to the batcher (for example the request's trace context); handed back in `BatchRecord`.
    public var context: (any Sendable)?
    /// Called exactly once, on a batcher thread.
    public var completion: @Sendable (Result<[String: Tensor], InferenceError>, BatchExecution?) -> Void

    public init(inputs: [String: Tensor], rows: Int, deadline: UInt64? = nil,
                isCancelled: @escaping @Sendable () -> Bool = { false }, context: (any Sendable)? = nil,
                completion: @escaping @Sendable (Result<[String: Tensor], InferenceError>, BatchExecution?) -> Void) {
        self.inputs = inputs
        self.rows = rows
        self.deadline = deadline
        self.isCancelled = isCancelled
        self.context = context
        self.completion = completion
    }
}

/// How one request's batch step went, for the request's own metrics, span and response headers.
public struct BatchExecution: Sendable {
    public let batchID: UInt64
    public let trigger: BatchTrigger
    /// Rows in the whole batch, and requests in it.
    public let batchRows: Int
    public let batchRequests: Int
    public let enqueuedAt: UInt64
    /// Monotonic nanoseconds: the batch step began, inputs were assembled, the model ran, outputs were scattered.
    public let startedAt: UInt64
    public let assembledAt: UInt64
    public let ranAt: UInt64
    public let finishedAt: UInt64
    /// What the observer's `batchStarted` returned for this batch (for example the batch span).
    public let observerContext: (any Sendable)?

    public var queueNanos: UInt64 { startedAt &- enqueuedAt }
    public var computeNanos: UInt64 { ranAt &- assembledAt }
}

/// One batch step, reported once it finished: what metrics and tracing need.
public struct BatchRecord: Sendable {
    public struct Member: Sendable {
        public let rows: Int
        public let enqueuedAt: UInt64
        public let context: (any Sendable)?
    }

    public let model: String
    public let version: String
    public let execution: BatchExecution
    public let members: [Member]
    /// Set when the model run failed; every member then got an internal error.
    public let error: String?
}

/// Receives the batcher's events. Called on batcher threads; must be cheap and never block.
public protocol BatcherObserver: Sendable {
    func queueDepthChanged(model: String, version: String, depth: Int)
    func batchesInFlightChanged(model: String, version: String, count: Int)
    /// Returns a value handed back in every member's `BatchExecution` and in the `BatchRecord`.
    func batchStarted(model: String, version: String, batchID: UInt64, trigger: BatchTrigger,
                      members: [BatchRecord.Member]) -> (any Sendable)?
    func batchFinished(_ record: BatchRecord)
}

/// Forms batches for one model version and runs them on its own worker threads.
///
/// The queue is bounded: a full queue rejects at once (never blocks the caller). A batch is formed
/// when the waiting rows reach the batch size or the oldest request has waited the maximum queue
/// delay; expired and cancelled requests leave the queue before compute. `workerThreads` batch steps
/// run at once.
public final class DynamicBatcher: Sendable {
    public struct Configuration: Sendable {
        public var maxBatchSize: Int
        public var maxQueueDelayNanos: UInt64
        public var maxQueueSize: Int
        public var workerThreads: Int

        public init(maxBatchSize: Int = 8, maxQueueDelayNanos: UInt64 = 2_000_000, maxQueueSize: Int = 256, workerThreads: Int = 2) {
            self.maxBatchSize = maxBatchSize
            self.maxQueueDelayNanos = maxQueueDelayNanos
            self.maxQueueSize = maxQueueSize
            self.workerThreads = workerThreads
        }
    }

    public let metadata: ModelMetadata
    public let configuration: Configuration
    let backend: any ModelBackend
    let observer: (any BatcherObserver)?
    private typealias Entry = BatchQueue<BatchRequest>.Entry
    private typealias Batch = (entries: [Entry], trigger: BatchTrigger)

    private let lock = ConditionLock()
    /// The scheduler waits here for arrivals, free workers and deadlines.
    private let schedulerWake = ConditionLock.Condition()
    /// Workers wait here for formed batches.
    private let workerWake = ConditionLock.Condition()
    // Guarded by `lock`; only the scheduler thread forms batches from `queue`.
    private nonisolated(unsafe) var queue: BatchQueue<BatchRequest>
    private nonisolated(unsafe) var formed: [Batch] = []
    private nonisolated(unsafe) var inFlight = 0
    private nonisolated(unsafe) var stopping = false
    private nonisolated(unsafe) var started = false
    private let nextBatchID = Atomic<UInt64>(1)
    private let clock: @Sendable () -> UInt64

    /// - Parameter clock: monotonic nanoseconds; injectable for tests.
    public init(metadata: ModelMetadata, backend: any ModelBackend, configuration: Configuration,
                observer: (any BatcherObserver)? = nil, clock: @escaping @Sendable () -> UInt64 = DynamicBatcher.monotonicNow) {
        self.metadata = metadata
        self.backend = backend
        self.configuration = configuration
        self.observer = observer
        self.clock = clock
        let rows = metadata.maxBatchSize > 0 ? max(1, min(configuration.maxBatchSize, metadata.maxBatchSize)) : 1
        self.queue = BatchQueue(maxBatchRows: rows, maxDelayNanos: configuration.maxQueueDelayNanos,
                                capacity: max(1, configuration.maxQueueSize))
    }

    /// Starts the scheduler thread and the worker threads.
    public func start() {
        let first = lock.withLock { () -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        spawn("batch-\(metadata.name)") { [self] in schedulerLoop() }
        for index in 0..<workerCount {
            spawn("batch-\(metadata.name)-\(index)") { [self] in workerLoop() }
        }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    private var workerCount: Int { max(1, configuration.workerThreads) }

    /// Rows one batch holds at most.
    public var maxBatchRows: Int { lock.withLock { queue.maxBatchRows } }
    public var queueCapacity: Int { configuration.maxQueueSize }
    public var queueDepth: Int { lock.withLock { queue.count } }
    public var batchesInFlight: Int { lock.withLock { inFlight } }

    public static let monotonicNow: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Queues a request, or throws `queueFull` / `draining` at once.
    public func submit(_ request: BatchRequest) throws(InferenceError) {
        let signature = batchSignature(request.inputs)
        let now = clock()
        let (result, depth) = lock.withLock { () -> (BatchQueue<BatchRequest>.EnqueueResult, Int) in
            let r = stopping ? .draining : queue.enqueue(request, rows: request.rows, signature: signature, now: now, deadline: request.deadline)
            if r == .accepted { schedulerWake.signal() }
            return (r, queue.count)
        }
        switch result {
        case .accepted:
            observer?.queueDepthChanged(model: metadata.name, version: metadata.version, depth: depth)
        case .full:
            throw InferenceError(.queueFull,
                "model '\(metadata.name)' queue is full (\(configuration.maxQueueSize) waiting); retry later")
        case .draining:
            throw InferenceError(.draining, "server is shutting down; model '\(metadata.name)' accepts no new requests")
        }
    }

    /// Stops accepting work and releases what is queued without waiting for the delay.
    public func drain() {
        lock.withLock {
            queue.startDraining()
            schedulerWake.signal()
        }
    }

    /// Waits until nothing is queued or running; false if `timeoutNanos` passed first.
    public func waitUntilIdle(timeoutNanos: UInt64) -> Bool {
        let deadline = DynamicBatcher.monotonicNow() &+ timeoutNanos
        while true {
            if lock.withLock({ queue.count == 0 && formed.isEmpty && inFlight == 0 }) { return true }
            if DynamicBatcher.monotonicNow() >= deadline { return false }
            usleep(2_000)
        }
    }

    /// Stops the threads after their current batch; what is still queued fails as draining.
    public func shutdown() {
        let left = lock.withLock { () -> [Entry] in
            stopping = true
            queue.startDraining()
            schedulerWake.signal()
            workerWake.broadcast()
            let pending = formed.flatMap(\.entries) + queue.remove { _ in true }
            formed.removeAll()
            return pending
        }
        for entry in left {
            entry.item.completion(.failure(InferenceError(.draining, "server shut down before the request ran")), nil)
        }
    }

    // The non-batch dimensions of every input, in the model's input order.
    private func batchSignature(_ inputs: [String: Tensor]) -> [Int] {
        var signature: [Int] = []
        for spec in metadata.inputs {
            guard let tensor = inputs[spec.name] else { continue }
            signature.append(contentsOf: metadata.maxBatchSize > 0 ? Array(tensor.shape.dropFirst()) : tensor.shape)
            signature.append(-1)
        }
        return signature
    }

    /// The only place batches are formed: expires and cancels queued requests at any time, and forms
    /// a batch whenever a worker is free and one is ready.
    private func schedulerLoop() {
        lock.lock()
        while !stopping {
            let now = clock()
            var failed: [(Entry, InferenceError)] = []
            for entry in queue.removeExpired(now: now) {
                failed.append((entry, InferenceError(.deadlineExceeded,
                    "request waited \((now &- entry.enqueuedAt) / 1_000_000) ms in the queue of model '\(metadata.name)' and passed its deadline")))
            }
            for entry in queue.remove(where: { $0.item.isCancelled() }) {
                failed.append((entry, InferenceError(.cancelled, "client went away before the request ran")))
            }
            var formedNow = false
            while inFlight + formed.count < workerCount, let batch = queue.nextBatch(now: now) {
                formed.append(batch)
                formedNow = true
                workerWake.signal()
            }
            if !failed.isEmpty || formedNow {
                let depth = queue.count
                lock.unlock()
                observer?.queueDepthChanged(model: metadata.name, version: metadata.version, depth: depth)
                for (entry, error) in failed { entry.item.completion(.failure(error), nil) }
                lock.lock()
                continue
            }
            // With a worker free, wake for the next delay expiry; otherwise only for deadlines (a
            // finishing worker signals). Poll at least every 50 ms so cancelled requests leave promptly.
            let free = inFlight + formed.count < workerCount
            let due = free ? queue.nextWakeup() : queue.entries.compactMap(\.deadline).min()
            lock.wait(schedulerWake, until: min(due ?? UInt64.max, now &+ 50_000_000))
        }
        lock.unlock()
    }

    private func workerLoop() {
        while true {
            lock.lock()
            while formed.isEmpty && !stopping { lock.wait(workerWake, until: nil) }
            if formed.isEmpty {
                lock.unlock()
                return
            }
            let batch = formed.removeFirst()
            inFlight += 1
            let running = inFlight
            lock.unlock()

            observer?.batchesInFlightChanged(model: metadata.name, version: metadata.version, count: running)
            execute(batch.entries, trigger: batch.trigger)
            let remaining = lock.withLock { () -> Int in
                inFlight -= 1
                schedulerWake.signal()
                return inFlight
            }
            observer?.batchesInFlightChanged(model: metadata.name, version: metadata.version, count: remaining)
        }
    }

    /// One batch step: assemble inputs, run the model, scatter outputs.
    func execute(_ entries: [BatchQueue<BatchRequest>.Entry], trigger: BatchTrigger) {
        let batchID = nextBatchID.wrappingAdd(1, ordering: .relaxed).oldValue
        let members = entries.map { BatchRecord.Member(rows: $0.rows, enqueuedAt: $0.enqueuedAt, context: $0.item.context) }
        let observerContext = observer?.batchStarted(model: metadata.name, version: metadata.version, batchID: batchID,
                                                     trigger: trigger, members: members)
        let startedAt = clock()
        let totalRows = entries.reduce(0) { $0 + $1.rows }
        let feeds = BatchAssembly.concatenate(entries.map(\.item.inputs), inputNames: metadata.inputs.map(\.name),
                                              batched: metadata.maxBatchSize > 0)
        let assembledAt = clock()
        var outcome: Result<[String: Tensor], InferenceError>
        do {
            outcome = .success(try backend.run(feeds))
        } catch let error as ONNXError {
            outcome = .failure(InferenceError(.internalError, "model '\(metadata.name)' failed to run: \(error.message)"))
        } catch {
            outcome = .failure(InferenceError(.internalError, "model '\(metadata.name)' failed to run: \(error)"))
        }
        let ranAt = clock()
        var perMember: [Result<[String: Tensor], InferenceError>]
        switch outcome {
        case .success(let outputs):
            do {
                perMember = try BatchAssembly.scatter(outputs, rows: entries.map(\.rows), totalRows: totalRows)
                    .map { .success($0) }
            } catch {
                perMember = Array(repeating: .failure(error), count: entries.count)
            }
        case .failure(let error):
            perMember = Array(repeating: .failure(error), count: entries.count)
        }
        let finishedAt = clock()
        for (entry, result) in zip(entries, perMember) {
            let execution = BatchExecution(batchID: batchID, trigger: trigger, batchRows: totalRows,
                                           batchRequests: entries.count, enqueuedAt: entry.enqueuedAt,
                                           startedAt: startedAt, assembledAt: assembledAt, ranAt: ranAt,
                                           finishedAt: finishedAt, observerContext: observerContext)
            entry.item.completion(result, execution)
        }
        if let observer {
            let execution = BatchExecution(batchID: batchID, trigger: trigger, batchRows: totalRows,
                                           batchRequests: entries.count, enqueuedAt: entries.map(\.enqueuedAt).min() ?? startedAt,
                                           startedAt: startedAt, assembledAt: assembledAt, ranAt: ranAt, finishedAt: finishedAt,
                                           observerContext: observerContext)
            var errorText: String? = nil
            if case .failure(let e) = outcome { errorText = e.message }
            observer.batchFinished(BatchRecord(model: metadata.name, version: metadata.version, execution: execution,
                                               members: members, error: errorText))
        }
    }
}
