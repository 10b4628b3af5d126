import Synchronization
import TelemetryCore

/// The latest exemplar of one histogram bucket.
struct BucketExemplar: Sendable {
    var traceID: TraceID
    var spanID: SpanID
    var value: Double
    var unixNanoseconds: UInt64
}

/// Holds one bucket's latest exemplar behind a sequence lock, so a scrape reads it with plain
/// loads (no lock instruction per bucket, and cache misses on many buckets overlap) while
/// observers replace it. A writer makes `sequence` odd, stores the fields, and makes it even
/// again; a reader retries when it saw an odd or changed sequence. Zero means never written.
struct ExemplarSlot: ~Copyable, Sendable {
    private let sequence = Atomic<UInt64>(0)
    private let traceHigh = Atomic<UInt64>(0)
    private let traceLow = Atomic<UInt64>(0)
    private let spanID = Atomic<UInt64>(0)
    private let valueBits = Atomic<UInt64>(0)
    private let unixNanoseconds = Atomic<UInt64>(0)

    init() {}

    /// Replaces the exemplar. When another thread is storing one into this slot at the same
    /// moment, this one is dropped: either is an equally good "latest" exemplar, and an
    /// observer never waits.
    func store(_ exemplar: BucketExemplar) {
        let start = sequence.load(ordering: .relaxed)
        guard start & 1 == 0,
              sequence.compareExchange(expected: start, desired: start &+ 1, ordering: .acquiringAndReleasing).exchanged
        else { return }
        atomicMemoryFence(ordering: .releasing)
        traceHigh.store(exemplar.traceID.high, ordering: .relaxed)
        traceLow.store(exemplar.traceID.low, ordering: .relaxed)
        spanID.store(exemplar.spanID.value, ordering: .relaxed)
        valueBits.store(exemplar.value.bitPattern, ordering: .relaxed)
        unixNanoseconds.store(exemplar.unixNanoseconds, ordering: .relaxed)
        sequence.store(start &+ 2, ordering: .releasing)
    }

    /// True when the slot is empty or its exemplar was stored before `unixNanoseconds` (a read
    /// only: the slot's cache line stays shared until it is written).
    @inline(__always)
    func isOlder(than unixNanoseconds: UInt64) -> Bool {
        sequence.load(ordering: .relaxed) == 0 || self.unixNanoseconds.load(ordering: .relaxed) < unixNanoseconds
    }

    /// The exemplar, or nil when there is none (or a writer kept it busy for every attempt).
    func load() -> BucketExemplar? {
        for _ in 0..<100 {
            let before = sequence.load(ordering: .acquiring)
            if before == 0 { return nil }
            if before & 1 == 1 { continue }
            let exemplar = BucketExemplar(
                traceID: TraceID(high: traceHigh.load(ordering: .relaxed), low: traceLow.load(ordering: .relaxed)),
                spanID: SpanID(spanID.load(ordering: .relaxed)),
                value: Double(bitPattern: valueBits.load(ordering: .relaxed)),
                unixNanoseconds: unixNanoseconds.load(ordering: .relaxed))
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == before { return exemplar }
        }
        return nil
    }

    /// Reads the first and last word of the slot (48 bytes often span two cache lines) and
    /// returns them combined; see `HistogramSeries.warmCache`.
    @inline(__always)
    func warmCache() -> UInt64 { sequence.load(ordering: .relaxed) ^ unixNanoseconds.load(ordering: .relaxed) }

    /// Forgets the exemplar (tests; not safe against concurrent writers).
    func clear() { sequence.store(0, ordering: .releasing) }
}
