import TelemetryCore

extension MetricsRegistry {
    /// Writes a histogram family a batch of series at a time: first the batch's counts and
    /// sums are copied out and its exemplar slots touched (`HistogramBatch.read`), then the
    /// batch's lines are written. Series storage is spread over the heap, so those reads are
    /// mostly cache misses; reads that do not wait for each other overlap their misses, while
    /// reading each value just before writing its line waits for one miss at a time (about
    /// twice as slow at 10,000 series).
    func writeHistograms(_ family: FamilySnapshot, openMetrics: Bool, into buffer: inout [UInt8]) {
        let batch = HistogramBatch(buckets: family.textBounds.count, openMetrics: openMetrics)
        defer { batch.deallocate() }
        let boundRanges = openMetrics ? family.openMetricsBounds : family.textBounds
        let longestBound = boundRanges.map { Int($0.count) }.max() ?? 0
        family.rows.withUnsafeBufferPointer { rows in
            family.prefixes.withUnsafeBufferPointer { prefixes in
                family.bounds.withUnsafeBufferPointer { bounds in
                    boundRanges.withUnsafeBufferPointer { boundRanges in
                        var first = 0
                        while first < rows.count {
                            let batchRows = UnsafeBufferPointer(rebasing: rows[first..<min(first + HistogramBatch.capacity, rows.count)])
                            let room = batch.read(batchRows, longestBound: longestBound)
                            buffer.appendRaw(maxCount: room) { cursor in
                                var out = cursor  // a local the optimiser keeps in registers
                                defer { cursor = out }
                                for r in 0..<batchRows.count {
                                    batch.write(r, batchRows[r], prefixes: prefixes.baseAddress!, bounds: bounds.baseAddress!,
                                                boundRanges: boundRanges, to: &out)
                                }
                            }
                            first += batchRows.count
                        }
                    }
                }
            }
        }
    }
}

/// Copies of up to `capacity` histogram series' values, read in passes over all of them
/// (the series objects; a warm-up read of each cache line of their counts and exemplar
/// slots; the counts), so that each pass's cache misses are independent of each other and
/// overlap. Exemplars are read while writing, from slots the warm-up brought into the cache.
struct HistogramBatch {
    static let capacity = 64

    let buckets: Int
    let openMetrics: Bool
    /// Per series: the bucket counts, then the sum's bits.
    private let values: UnsafeMutablePointer<UInt64>
    /// Per series (OpenMetrics only): which buckets may hold an exemplar; one extra word
    /// keeps the warm-up reads.
    private let exemplarMasks: UnsafeMutablePointer<UInt64>
    /// The last exemplar timestamp's whole seconds and their digits: exemplars are mostly
    /// recent, so consecutive ones usually share them. Word 0 the seconds, word 1 the digit
    /// count, then up to 24 digits.
    private let seconds: UnsafeMutablePointer<UInt64>

    init(buckets: Int, openMetrics: Bool) {
        self.buckets = buckets
        self.openMetrics = openMetrics
        values = .allocate(capacity: HistogramBatch.capacity * (buckets + 1))
        exemplarMasks = .allocate(capacity: HistogramBatch.capacity + 1)
        seconds = .allocate(capacity: 5)
        seconds.initialize(repeating: 0, count: 5)
        seconds[0] = .max
    }

    func deallocate() {
        values.deallocate()
        exemplarMasks.deallocate()
        seconds.deallocate()
    }

    /// `ByteCursor.writeTimestampSeconds`, with the seconds' digits reused from the last call
    /// when they are the same.
    @inline(__always)
    private func writeTimestamp(unixNanoseconds: UInt64, to out: inout ByteCursor) {
        let millis = unixNanoseconds / 1_000_000
        let whole = millis / 1000
        let digits = UnsafeMutableRawPointer(seconds + 2).assumingMemoryBound(to: UInt8.self)
        if whole == seconds[0] {
            out.write(digits, count: Int(seconds[1]))
        } else {
            let start = out.position
            out.writeDecimal(whole)
            let count = out.position - start
            digits.update(from: start, count: count)
            seconds[0] = whole
            seconds[1] = UInt64(count)
        }
        out.write(UInt8(ascii: "."))
        out.writeDigits(millis % 1000, width: 3)
    }

    @inline(__always)
    private static func histogram(_ row: FamilySnapshot.Row) -> Unmanaged<HistogramSeries> {
        guard case .histogram(let series) = row.value else { preconditionFailure("not a histogram series") }
        return series
    }

    /// Reads the rows' values; returns the most bytes `write` can produce for them (the exact
    /// prefixes, counts no longer than the series total, exemplars at their longest).
    func read(_ rows: UnsafeBufferPointer<FamilySnapshot.Row>, longestBound: Int) -> Int {
        let stride = buckets + 1
        // The series objects: sums and exemplar masks.
        for r in 0..<rows.count {
            HistogramBatch.histogram(rows[r])._withUnsafeGuaranteedRef { histogram in
                values[r * stride + buckets] = histogram.sum.bitPattern
                exemplarMasks[r] = openMetrics ? histogram.exemplarMask : 0
            }
        }
        // Bring their counts and exemplar slots into the cache, all misses at once.
        var warm: UInt64 = 0
        for r in 0..<rows.count {
            HistogramBatch.histogram(rows[r])._withUnsafeGuaranteedRef { warm ^= $0.warmCache(exemplars: openMetrics) }
        }
        exemplarMasks[rows.count] = warm
        // Their bucket counts.
        var room = FamilySnapshot.padding
        for r in 0..<rows.count {
            let row = rows[r]
            let counts = values + r * stride
            var total: UInt64 = 0
            HistogramBatch.histogram(row)._withUnsafeGuaranteedRef { histogram in
                for i in 0..<buckets {
                    counts[i] = histogram.count(bucket: i)
                    total &+= counts[i]
                }
            }
            let digits = ByteFormat.decimalDigitCount(total)
            room += buckets * (Int(row.text.count) + longestBound + digits + 1)
                + Int(row.sum.count) + ByteFormat.maxDoubleLength + 1 + Int(row.count.count) + digits + 1
            // Room for an exemplar on every bucket that may have one.
            let mask = exemplarMasks[r]
            if mask != 0 {
                let exemplars = mask.nonzeroBitCount + (mask >> 63 != 0 ? max(0, buckets - 63) : 0)
                room += exemplars * FamilySnapshot.maxExemplarBytes
            }
        }
        return room
    }

    /// Row `r`'s `_bucket` lines (with exemplars in OpenMetrics), `_sum` and `_count`.
    @inline(__always)
    func write(_ r: Int, _ row: FamilySnapshot.Row, prefixes: UnsafePointer<UInt8>, bounds: UnsafePointer<UInt8>,
               boundRanges: UnsafeBufferPointer<ArenaRange>, to out: inout ByteCursor) {
        let counts = values + r * (buckets + 1)
        let bucketPrefix = prefixes + Int(row.text.start)
        let bucketPrefixCount = Int(row.text.count)
        let exemplarMask = exemplarMasks[r]
        var cumulative: UInt64 = 0
        for i in 0..<buckets {
            cumulative &+= counts[i]
            out.writePadded(bucketPrefix, count: bucketPrefixCount)
            let bound = boundRanges[i]
            out.writePadded(bounds + Int(bound.start), count: Int(bound.count))
            out.writeDecimal(cumulative)
            if exemplarMask & HistogramSeries.exemplarBit(i) != 0,
               let exemplar = HistogramBatch.histogram(row)._withUnsafeGuaranteedRef({ $0.exemplar(bucket: i) }) {
                out.write(" # {trace_id=\"")
                out.writeHex(exemplar.traceID)
                out.write("\",span_id=\"")
                out.writeHex(exemplar.spanID.value)
                out.write("\"} ")
                out.writeSampleValue(exemplar.value)
                out.write(UInt8(ascii: " "))
                writeTimestamp(unixNanoseconds: exemplar.unixNanoseconds, to: &out)
            }
            out.write(UInt8(ascii: "\n"))
        }
        out.writePadded(prefixes + Int(row.sum.start), count: Int(row.sum.count))
        out.writeSampleValue(Double(bitPattern: counts[buckets]))
        out.write(UInt8(ascii: "\n"))
        // `_count` is the +Inf bucket by construction.
        out.writePadded(prefixes + Int(row.count.start), count: Int(row.count.count))
        out.writeDecimal(cumulative)
        out.write(UInt8(ascii: "\n"))
    }
}
