import Synchronization
import TelemetryCore

/// Storage behind a `Counter` handle: an integer part (exact under concurrent increments,
/// one `wrappingAdd`) and a floating-point part updated by compare-and-swap on its bits.
final class CounterSeries: Sendable {
    let integral = Atomic<Int64>(0)
    let fractional = Atomic<UInt64>(Double(0).bitPattern)

    @inline(__always)
    func increment(by amount: Int64) {
        integral.wrappingAdd(amount, ordering: .relaxed)
    }

    func increment(by amount: Double) {
        guard amount.isFinite, amount > 0 else { return }
        fractional.addDouble(amount)
    }

    func reset() {
        integral.store(0, ordering: .relaxed)
        fractional.store(Double(0).bitPattern, ordering: .relaxed)
    }

    var value: Double {
        Double(integral.load(ordering: .relaxed)) + Double(bitPattern: fractional.load(ordering: .relaxed))
    }
}

/// Storage behind a `Gauge` handle: a Double kept as its bit pattern.
final class GaugeSeries: Sendable {
    let bits = Atomic<UInt64>(Double(0).bitPattern)

    @inline(__always)
    func set(_ value: Double) { bits.store(value.bitPattern, ordering: .relaxed) }

    @inline(__always)
    func add(_ delta: Double) { bits.addDouble(delta) }

    var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }
}

/// Storage behind a `Histogram` handle: one atomic count per bucket (non-cumulative; the
/// writer accumulates), an atomic sum, and the latest exemplar per bucket.
final class HistogramSeries: @unchecked Sendable {
    // @unchecked: `counts` and `exemplars` are allocated and initialised once in `init`, never
    // reassigned, and freed in `deinit`; every element is itself an Atomic or an ExemplarSlot
    // (atomics behind a sequence lock).
    let upperBounds: [Double]
    private let counts: UnsafeMutablePointer<Atomic<UInt64>>
    private let exemplars: UnsafeMutablePointer<ExemplarSlot>
    private let sumBits = Atomic<UInt64>(Double(0).bitPattern)
    /// Bit i set once bucket i (bit 63: any bucket from 63 on) holds an exemplar, so the
    /// writer reads only the slots that have one.
    private let exemplarBits = Atomic<UInt64>(0)
    let bucketCount: Int  // finite buckets + the +Inf bucket

    init(upperBounds: [Double]) {
        self.upperBounds = upperBounds
        bucketCount = upperBounds.count + 1
        counts = .allocate(capacity: bucketCount)
        exemplars = .allocate(capacity: bucketCount)
        for i in 0..<bucketCount {
            (counts + i).initialize(to: Atomic(0))
            (exemplars + i).initialize(to: ExemplarSlot())
        }
    }

    deinit {
        counts.deinitialize(count: bucketCount)
        exemplars.deinitialize(count: bucketCount)
        counts.deallocate()
        exemplars.deallocate()
    }

    /// Index of the first bucket whose upper bound is ≥ value; NaN lands in +Inf.
    @inline(__always)
    func bucketIndex(for value: Double) -> Int {
        upperBounds.withUnsafeBufferPointer { bounds in
            if bounds.count <= 16 {
                for i in 0..<bounds.count where value <= bounds[i] { return i }
                return bounds.count
            }
            var low = 0
            var high = bounds.count
            while low < high {
                let mid = (low + high) / 2
                if value <= bounds[mid] { high = mid } else { low = mid + 1 }
            }
            // NaN compares false everywhere and ends at bounds.count (+Inf).
            return low
        }
    }

    @inline(__always)
    func observe(_ value: Double) {
        counts[bucketIndex(for: value)].wrappingAdd(1, ordering: .relaxed)
        sumBits.addDouble(value)
    }

    /// A bucket's exemplar is replaced at most this often: a scrape shows one per bucket, and
    /// replacing it on every sampled request would have every request thread write the same
    /// cache lines.
    static let exemplarIntervalNanoseconds: UInt64 = 100_000_000

    func observe(_ value: Double, traceID: TraceID, spanID: SpanID) {
        let index = bucketIndex(for: value)
        counts[index].wrappingAdd(1, ordering: .relaxed)
        sumBits.addDouble(value)
        let now = SystemClock.coarseUnixNanoseconds()
        guard exemplars[index].isOlder(than: now &- HistogramSeries.exemplarIntervalNanoseconds) else { return }
        exemplars[index].store(BucketExemplar(traceID: traceID, spanID: spanID, value: value, unixNanoseconds: now))
        let bit = HistogramSeries.exemplarBit(index)
        if exemplarBits.load(ordering: .relaxed) & bit == 0 { exemplarBits.bitwiseOr(bit, ordering: .relaxed) }
    }

    @inline(__always)
    static func exemplarBit(_ bucket: Int) -> UInt64 { 1 << UInt64(min(bucket, 63)) }

    @inline(__always)
    func count(bucket index: Int) -> UInt64 { counts[index].load(ordering: .relaxed) }

    /// Which buckets may hold an exemplar (see `exemplarBit`); zero when none does.
    @inline(__always)
    var exemplarMask: UInt64 { exemplarBits.load(ordering: .relaxed) }

    func exemplar(bucket index: Int) -> BucketExemplar? { exemplars[index].load() }

    /// Reads a word of each cache line a scrape reads next (the bucket counts, and with
    /// `exemplars` the slots in `exemplarMask`) and returns them combined, only so that the
    /// reads are kept. The writer calls this for a whole batch of series first: misses of
    /// reads that nothing waits on overlap, instead of stalling one at a time later.
    @inline(__always)
    func warmCache(exemplars withExemplars: Bool) -> UInt64 {
        var word = counts[bucketCount - 1].load(ordering: .relaxed)
        for i in stride(from: 0, to: bucketCount, by: 8) { word ^= counts[i].load(ordering: .relaxed) }
        guard withExemplars else { return word }
        var mask = exemplarMask
        while mask != 0 {
            let bucket = mask.trailingZeroBitCount
            mask &= mask - 1
            if bucket < bucketCount { word ^= exemplars[bucket].warmCache() }
        }
        return word
    }

    var sum: Double { Double(bitPattern: sumBits.load(ordering: .relaxed)) }

    /// Total observations: the sum of all buckets, so `_count` always equals the `+Inf` bucket.
    var count: UInt64 {
        var total: UInt64 = 0
        for i in 0..<bucketCount { total &+= count(bucket: i) }
        return total
    }

    func reset() {
        for i in 0..<bucketCount {
            counts[i].store(0, ordering: .relaxed)
            exemplars[i].clear()
        }
        exemplarBits.store(0, ordering: .relaxed)
        sumBits.store(Double(0).bitPattern, ordering: .relaxed)
    }
}

extension Atomic where Value == UInt64 {
    /// Adds to a Double stored as its bit pattern (CAS loop; lock-free, no allocation).
    @inline(__always)
    func addDouble(_ delta: Double) {
        var current = load(ordering: .relaxed)
        while true {
            let next = (Double(bitPattern: current) + delta).bitPattern
            let (exchanged, original) = weakCompareExchange(
                expected: current, desired: next, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
