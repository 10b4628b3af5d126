import Testing
@testable import InferenceCore

/// The batching decisions, driven by an explicit clock (nanoseconds passed in).
@Suite struct BatchQueueTests {
    let ms: UInt64 = 1_000_000

    @Test func formsABatchWhenTheRowsReachTheBatchSize() {
        var q = BatchQueue<Int>(maxBatchRows: 4, maxDelayNanos: 10 * ms, capacity: 16)
        for i in 0..<3 { #expect(q.enqueue(i, rows: 1, signature: [784], now: 0, deadline: nil) == .accepted) }
        #expect(q.nextBatch(now: 1 * ms) == nil, "3 of 4 rows and no delay yet: wait")
        _ = q.enqueue(3, rows: 1, signature: [784], now: 1 * ms, deadline: nil)
        let batch = q.nextBatch(now: 1 * ms)
        #expect(batch?.trigger == .full)
        #expect(batch?.entries.map(\.item) == [0, 1, 2, 3])
        #expect(q.count == 0)
    }

    @Test func formsABatchWhenTheOldestWaitedTheDelay() {
        var q = BatchQueue<Int>(maxBatchRows: 8, maxDelayNanos: 5 * ms, capacity: 16)
        _ = q.enqueue(0, rows: 2, signature: [3], now: 0, deadline: nil)
        _ = q.enqueue(1, rows: 1, signature: [3], now: 4 * ms, deadline: nil)
        #expect(q.nextBatchDue() == 5 * ms)
        #expect(q.nextBatch(now: 5 * ms - 1) == nil)
        let batch = q.nextBatch(now: 5 * ms)
        #expect(batch?.trigger == .delay)
        #expect(batch?.entries.map(\.item) == [0, 1])
    }

    @Test func drainReleasesWhatItHoldsAndRefusesNewWork() {
        var q = BatchQueue<Int>(maxBatchRows: 8, maxDelayNanos: 50 * ms, capacity: 16)
        _ = q.enqueue(0, rows: 1, signature: [3], now: 0, deadline: nil)
        q.startDraining()
        #expect(q.enqueue(1, rows: 1, signature: [3], now: 0, deadline: nil) == .draining)
        let batch = q.nextBatch(now: 1)
        #expect(batch?.trigger == .drain)
        #expect(batch?.entries.map(\.item) == [0])
    }

    @Test func keepsShapeIncompatibleRequestsApart() {
        var q = BatchQueue<Int>(maxBatchRows: 8, maxDelayNanos: 1 * ms, capacity: 16)
        _ = q.enqueue(0, rows: 1, signature: [3, 4], now: 0, deadline: nil)
        _ = q.enqueue(1, rows: 1, signature: [3, 5], now: 0, deadline: nil)
        _ = q.enqueue(2, rows: 1, signature: [3, 4], now: 0, deadline: nil)
        let first = q.nextBatch(now: 2 * ms)
        #expect(first?.entries.map(\.item) == [0, 2])
        let second = q.nextBatch(now: 2 * ms)
        #expect(second?.entries.map(\.item) == [1])
        #expect(q.nextBatch(now: 2 * ms) == nil)
    }

    @Test func countsEveryRowOfAMultiRowRequestAndNeverExceedsTheMaximum() {
        var q = BatchQueue<Int>(maxBatchRows: 8, maxDelayNanos: 1 * ms, capacity: 16)
        _ = q.enqueue(0, rows: 5, signature: [], now: 0, deadline: nil)
        _ = q.enqueue(1, rows: 4, signature: [], now: 0, deadline: nil)
        _ = q.enqueue(2, rows: 3, signature: [], now: 0, deadline: nil)
        let first = q.nextBatch(now: 0)
        #expect(first?.trigger == .full, "5 + 4 would pass 8, so the batch is as full as it gets")
        #expect(first?.entries.map(\.item) == [0])
        #expect(q.nextBatch(now: 0) == nil, "4 + 3 rows wait for the delay")
        let second = q.nextBatch(now: 1 * ms)
        #expect(second?.entries.map(\.item) == [1, 2])
        #expect(second.map { $0.entries.reduce(0) { $0 + $1.rows } } == 7)
    }

    @Test func aLoneOversizedRequestRunsByItself() {
        var q = BatchQueue<Int>(maxBatchRows: 4, maxDelayNanos: 1 * ms, capacity: 16)
        _ = q.enqueue(0, rows: 6, signature: [], now: 0, deadline: nil)
        _ = q.enqueue(1, rows: 1, signature: [], now: 0, deadline: nil)
        #expect(q.nextBatch(now: 0)?.entries.map(\.item) == [0])
    }

    @Test func rejectsWhenFull() {
        var q = BatchQueue<Int>(maxBatchRows: 4, maxDelayNanos: 1 * ms, capacity: 2)
        #expect(q.enqueue(0, rows: 1, signature: [], now: 0, deadline: nil) == .accepted)
        #expect(q.enqueue(1, rows: 1, signature: [], now: 0, deadline: nil) == .accepted)
        #expect(q.enqueue(2, rows: 1, signature: [], now: 0, deadline: nil) == .full)
    }

    @Test func expiredRequestsLeaveBeforeCompute() {
        var q = BatchQueue<Int>(maxBatchRows: 4, maxDelayNanos: 10 * ms, capacity: 8)
        _ = q.enqueue(0, rows: 1, signature: [], now: 0, deadline: 3 * ms)
        _ = q.enqueue(1, rows: 1, signature: [], now: 0, deadline: 20 * ms)
        #expect(q.earliestDeadline() == 3 * ms)
        #expect(q.removeExpired(now: 3 * ms).map(\.item) == [0])
        #expect(q.nextBatch(now: 10 * ms)?.entries.map(\.item) == [1])
    }

    @Test func cancelledRequestsAreRemoved() {
        var q = BatchQueue<Int>(maxBatchRows: 4, maxDelayNanos: 10 * ms, capacity: 8)
        for i in 0..<4 { _ = q.enqueue(i, rows: 1, signature: [], now: 0, deadline: nil) }
        #expect(q.remove(where: { $0.item % 2 == 1 }).map(\.item) == [1, 3])
        #expect(q.nextBatch(now: 10 * ms)?.entries.map(\.item) == [0, 2])
    }
}
