#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ONNXRuntime
import Synchronization
import Telemetry

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
    /// The request's trace context, handed back in `BatchRecord` (the batch span links to it).
    public var traceContext: TraceContext?
    /// Called exactly once, on a batcher thread.
    public var completion: @Sendable (Result<[String: Tensor], InferenceError>, BatchExecution?) -> Void

    public init(inputs: [String: Tensor], rows: Int, deadline: UInt64? = nil,
                isCancelled: @escaping @Sendable () -> Bool = { false }, traceContext: TraceContext? = nil,
                completion: @escaping @Sendable (Result<[String: Tensor], InferenceError>, BatchExecution?) -> Void) {
        self.inputs = inputs
        self.rows = rows
        self.deadline = deadline
        self.isCancelled = isCancelled
        self.traceContext = traceContext
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
    public let observerContext: (any AnyObject & Sendable)?

    public var queueNanos: UInt64 { startedAt &- enqueuedAt }
    public var computeNanos: UInt64 { ranAt &- assembledAt }
}

/// One batch step, reported once it finished: what metrics and tracing need.
public struct BatchRecord: Sendable {
    public struct Member: Sendable {
        public let rows: Int
        public let enqueuedAt: UInt64
        public let traceContext: TraceContext?
    }

    public let model: String
    public let version: String
    public let execution: BatchExecution
    public let members: [Member]
    /// Set when the model run failed; every member then got an internal error.
    public let error: String?
}

/// Receives the batcher's events. Called on batcher threads; must be cheap and never block.
/// (The queue depth and the batches in flight are read when wanted: `queueDepth`, `batchesInFlight`.)
public protocol BatcherObserver: Sendable {
    /// Returns an object handed back in every member's `BatchExecution` and in the `BatchRecord`
    /// (an object: a member's copy of it is one reference, and reading it back a class cast).
    /// `startedAt` (the batcher's clock) is when the batch left the queue: its step starts then,
    /// which may be a little before this call.
    func batchStarted(model: String, version: String, batchID: UInt64, trigger: BatchTrigger,
                      members: [BatchRecord.Member], startedAt: UInt64) -> (any AnyObject & Sendable)?
    func batchFinished(_ record: BatchRecord)
}

/// Forms batches for one model version and runs them on its own worker threads.
///
/// The queue is bounded: a full queue rejects at once (never blocks the caller). A batch is formed
/// when the waiting rows reach the batch size or the oldest request has waited the maximum queue
/// delay; expired and cancelled requests leave the queue before compute. `workerThreads` batch steps
/// run at once.
///
/// Threads: a free worker forms the next batch itself, so under load a worker that finishes one
/// batch takes the next without any hand-off, and a submitter wakes a worker only when a waiting
/// worker has something new to decide (the first request in an empty queue, a batch that filled).
/// One housekeeping thread answers requests whose deadline passes or whose client goes away while
/// every worker is busy.
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

    /// How often queued requests are checked for a client that went away.
    private static let cancellationPollNanos: UInt64 = 50_000_000
    /// How long the housekeeping thread sleeps while the queue is empty (unless a request with an
    /// earlier deadline arrives). Requests queued meanwhile are first checked for cancellation
    /// at most this late (workers still skip cancelled members of a batch); an idle server
    /// then wakes once a second per model instead of twenty times.
    private static let idlePollNanos: UInt64 = 1_000_000_000
    /// Times the housekeeping thread woke and looked at the queue (for tests).
    let housekeepingRounds = Atomic<Int>(0)

    private let lock = ConditionLock()
    /// Free workers wait here for a batch to become ready.
    private let workerWake = ConditionLock.Condition()
    /// The housekeeping thread waits here for the next deadline.
    private let housekeepingWake = ConditionLock.Condition()
    // Guarded by `lock`.
    private nonisolated(unsafe) var queue: BatchQueue<BatchRequest>
    private nonisolated(unsafe) var queuedRows = 0
    private nonisolated(unsafe) var idleWorkers = 0
    /// Batches being computed: raised under `lock` as a batch leaves the queue (so queue and
    /// in-flight count always add up there), lowered without it when the batch is done.
    private let inFlight = Atomic<Int>(0)
    /// When the housekeeping thread wakes next on its own; a request due earlier must signal it.
    private nonisolated(unsafe) var housekeepingWakeAt = UInt64.max
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

    /// Starts the worker threads and the housekeeping thread.
    public func start() {
        let first = lock.withLock { () -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        spawn(DynamicBatcher.threadName(model: metadata.name)) { [self] in housekeepingLoop() }
        for index in 0..<workerCount {
            spawn(DynamicBatcher.threadName(model: metadata.name, worker: index)) { [self] in workerLoop() }
        }
    }

    /// `pd-batch-<model>` for the housekeeping thread, `pd-batch-<model>-<worker>` for a worker: the
    /// model's name cut short where the whole would pass `maxThreadNameBytes`, so that a worker's
    /// number stays visible (`pd-batch-digi-0`).
    static func threadName(model: String, worker: Int? = nil) -> String {
        let suffix = worker.map { "-\($0)" } ?? ""
        let room = maxThreadNameBytes - "pd-batch-".utf8.count - suffix.utf8.count
        var name = ""
        for character in model {
            guard name.utf8.count + character.utf8.count <= room else { break }
            name.append(character)
        }
        return "pd-batch-\(name)\(suffix)"
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            setCurrentThreadName(name)  // Thread.name alone is not the name the kernel shows
            body()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    private var workerCount: Int { max(1, configuration.workerThreads) }

    /// Rows one batch holds at most.
    public var maxBatchRows: Int { lock.withLock { queue.maxBatchRows } }
    public var queueCapacity: Int { configuration.maxQueueSize }
    public var queueDepth: Int { lock.withLock { queue.count } }
    public var batchesInFlight: Int { inFlight.load(ordering: .acquiring) }

    public static let monotonicNow: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Queues a request, or throws `queueFull` / `draining` at once.
    public func submit(_ request: BatchRequest) throws(InferenceError) {
        let signature = batchSignature(request.inputs)
        let now = clock()
        var wakeWorker = false, wakeHousekeeping = false
        let result = lock.withLock { () -> BatchQueue<BatchRequest>.EnqueueResult in
            let wasEmpty = queue.count == 0
            let r = stopping ? .draining : queue.enqueue(request, rows: request.rows, signature: signature, now: now, deadline: request.deadline)
            if r == .accepted {
                queuedRows += request.rows
                // A waiting worker sleeps until the oldest request's delay ends (or indefinitely on an
                // empty queue): wake one when that changes or a batch may have filled. Rows of
                // different shapes are counted together, so this can wake a worker for nothing, never
                // miss one.
                wakeWorker = idleWorkers > 0
                    && (wasEmpty || queuedRows >= queue.maxBatchRows || configuration.maxQueueDelayNanos == 0)
                if let deadline = request.deadline, deadline < housekeepingWakeAt { wakeHousekeeping = true }
            }
            return r
        }
        // Signalled after the lock is released: a woken thread does not find it still held and
        // sleep again on it. A waiter cannot miss the signal: it decided to wait under the lock,
        // before this request was queued, and waits until signalled or its deadline.
        if wakeWorker { workerWake.signal() }
        if wakeHousekeeping { housekeepingWake.signal() }
        switch result {
        case .accepted: break
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
            workerWake.broadcast()
        }
    }

    /// Waits until nothing is queued or running; false if `timeoutNanos` passed first.
    public func waitUntilIdle(timeoutNanos: UInt64) -> Bool {
        let deadline = DynamicBatcher.monotonicNow() &+ timeoutNanos
        while true {
            if lock.withLock({ queue.count == 0 && inFlight.load(ordering: .acquiring) == 0 }) { return true }
            if DynamicBatcher.monotonicNow() >= deadline { return false }
            usleep(2_000)
        }
    }

    /// Stops the threads after their current batch; what is still queued fails as draining.
    public func shutdown() {
        let left = lock.withLock { () -> [Entry] in
            stopping = true
            queue.startDraining()
            workerWake.broadcast()
            housekeepingWake.signal()
            queuedRows = 0
            return queue.remove { _ in true }
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

    /// Removes (lock held) what expired at `now` and, if asked, what was cancelled, with the error each gets.
    private func removeUnrunnable(now: UInt64, cancelled: Bool) -> [(Entry, InferenceError)] {
        var failed: [(Entry, InferenceError)] = []
        for entry in queue.removeExpired(now: now) {
            failed.append((entry, InferenceError(.deadlineExceeded,
                "request waited \((now &- entry.enqueuedAt) / 1_000_000) ms in the queue of model '\(metadata.name)' and passed its deadline")))
        }
        if cancelled {
            for entry in queue.remove(where: { $0.item.isCancelled() }) {
                failed.append((entry, Self.cancelledError))
            }
        }
        for (entry, _) in failed { queuedRows -= entry.rows }
        return failed
    }

    private static let cancelledError = InferenceError(.cancelled, "client went away before the request ran")

    /// Answers the requests removed without running (lock not held).
    private func answer(_ failed: [(Entry, InferenceError)]) {
        for (entry, error) in failed { entry.item.completion(.failure(error), nil) }
    }

    /// A worker: forms the next ready batch and runs it, or sleeps until one can be ready.
    private func workerLoop() {
        lock.lock()
        while !stopping {
            let now = clock()
            // Deadlines are checked when a batch is formed, so nothing expired is computed; cancellation
            // is checked on the batch's members only (the housekeeping thread sweeps the whole queue).
            var failed = queue.count > 0 ? removeUnrunnable(now: now, cancelled: false) : []
            if let batch = queue.nextBatch(now: now) {
                queuedRows -= batch.entries.reduce(0) { $0 + $1.rows }
                inFlight.wrappingAdd(1, ordering: .relaxed)
                lock.unlock()
                var members: [Entry] = []
                members.reserveCapacity(batch.entries.count)
                for entry in batch.entries {
                    if entry.item.isCancelled() { failed.append((entry, Self.cancelledError)) } else { members.append(entry) }
                }
                answer(failed)
                if !members.isEmpty { execute(members, trigger: batch.trigger, formedAt: now) }
                inFlight.wrappingSubtract(1, ordering: .releasing)
                lock.lock()
                continue
            }
            if !failed.isEmpty {
                lock.unlock()
                answer(failed)
                lock.lock()
                continue
            }
            idleWorkers += 1
            lock.wait(workerWake, until: queue.nextBatchDue())
            idleWorkers -= 1
        }
        lock.unlock()
    }

    /// Answers queued requests whose deadline passed or whose client went away, also while every
    /// worker is busy; sleeps until the earliest deadline, polling for cancellation (rarely while
    /// the queue is empty).
    private func housekeepingLoop() {
        lock.lock()
        while !stopping {
            housekeepingRounds.wrappingAdd(1, ordering: .relaxed)
            let now = clock()
            let failed = queue.count > 0 ? removeUnrunnable(now: now, cancelled: true) : []
            if !failed.isEmpty {
                lock.unlock()
                answer(failed)
                lock.lock()
                continue
            }
            let poll = queue.count > 0 ? Self.cancellationPollNanos : Self.idlePollNanos
            housekeepingWakeAt = min(queue.earliestDeadline() ?? .max, now &+ poll)
            lock.wait(housekeepingWake, until: housekeepingWakeAt)
            housekeepingWakeAt = .max
        }
        lock.unlock()
    }

    /// One batch step: assemble inputs, run the model, scatter outputs.
    /// - Parameter formedAt: when the batch left the queue (checked against the members' deadlines),
    ///   which ends their queue time and starts the batch step.
    func execute(_ entries: [BatchQueue<BatchRequest>.Entry], trigger: BatchTrigger, formedAt: UInt64) {
        let batchID = nextBatchID.wrappingAdd(1, ordering: .relaxed).oldValue
        let members = entries.map { BatchRecord.Member(rows: $0.rows, enqueuedAt: $0.enqueuedAt, traceContext: $0.item.traceContext) }
        let startedAt = formedAt
        let observerContext = observer?.batchStarted(model: metadata.name, version: metadata.version, batchID: batchID,
                                                     trigger: trigger, members: members, startedAt: startedAt)
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
