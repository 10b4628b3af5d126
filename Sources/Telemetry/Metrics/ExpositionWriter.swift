extension MetricsRegistry {
    /// Appends the exposition of every family (sorted by name; series sorted by label set)
    /// to `buffer`. Reuse one buffer across scrapes (`removeAll(keepingCapacity: true)`)
    /// so steady-state rendering does not allocate per series.
    public func render(_ format: ExpositionFormat, into buffer: inout [UInt8]) {
        let (families, collectors) = snapshot()
        var collected: [CollectedMetricFamily] = []
        for collector in collectors { collected.append(contentsOf: collector.collect()) }
        collected.sort { $0.name < $1.name }

        let openMetrics = format == .openMetrics
        var c = 0
        for family in families {
            while c < collected.count, collected[c].name < family.name {
                write(collected[c], openMetrics: openMetrics, into: &buffer)
                c += 1
            }
            while c < collected.count, collected[c].name == family.name { c += 1 }  // registered family wins
            write(family, openMetrics: openMetrics, into: &buffer)
        }
        while c < collected.count {
            write(collected[c], openMetrics: openMetrics, into: &buffer)
            c += 1
        }
        if openMetrics { buffer.appendASCII("# EOF\n") }
    }

    /// The exposition as a String (tests, debugging).
    public func render(_ format: ExpositionFormat = .prometheusText) -> String {
        var buffer: [UInt8] = []
        render(format, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    func snapshot() -> ([FamilySnapshot], [any MetricsCollector]) {
        state.withLock { state in
            if let snapshot = state.snapshot { return (snapshot, state.collectors) }
            let built = state.families.values.sorted { $0.name < $1.name }.map { family in
                FamilySnapshot(name: family.name, type: family.type, help: family.help,
                               upperBounds: family.upperBounds,
                               series: family.series.values.sorted(by: SeriesEntry.ordered))
            }
            state.snapshot = built
            return (built, state.collectors)
        }
    }

    private func write(_ family: FamilySnapshot, openMetrics: Bool, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: openMetrics ? family.openMetricsHeader : family.textHeader)
        for series in family.series {
            switch series.value {
            case .counter(let counter):
                buffer.append(contentsOf: openMetrics ? series.openMetricsPrefix : series.textPrefix)
                buffer.appendSampleValue(counter.value)
                buffer.append(UInt8(ascii: "\n"))
            case .gauge(let gauge):
                buffer.append(contentsOf: series.textPrefix)
                buffer.appendSampleValue(gauge.value)
                buffer.append(UInt8(ascii: "\n"))
            case .callback(let read):
                buffer.append(contentsOf: openMetrics ? series.openMetricsPrefix : series.textPrefix)
                buffer.appendSampleValue(read())
                buffer.append(UInt8(ascii: "\n"))
            case .histogram(let histogram):
                writeHistogram(histogram, series: series, family: family, openMetrics: openMetrics, into: &buffer)
            }
        }
    }

    private func writeHistogram(_ histogram: HistogramSeries, series: SeriesEntry, family: FamilySnapshot,
                                openMetrics: Bool, into buffer: inout [UInt8]) {
        let bucketLabels = openMetrics ? family.openMetricsBucketLabels : family.textBucketLabels
        let withExemplars = openMetrics && histogram.hasExemplars.load(ordering: .relaxed)
        var cumulative: UInt64 = 0
        for i in 0..<histogram.bucketCount {
            cumulative &+= histogram.count(bucket: i)
            buffer.append(contentsOf: family.bucketPrefix)
            if !series.labelText.isEmpty {
                buffer.append(contentsOf: series.labelText)
                buffer.append(UInt8(ascii: ","))
            }
            buffer.append(contentsOf: bucketLabels[i])
            buffer.appendDecimal(cumulative)
            if withExemplars, let exemplar = histogram.exemplar(bucket: i) {
                buffer.appendASCII(" # {trace_id=\"")
                exemplar.traceID.appendHex(to: &buffer)
                buffer.appendASCII("\",span_id=\"")
                exemplar.spanID.appendHex(to: &buffer)
                buffer.appendASCII("\"} ")
                buffer.appendSampleValue(exemplar.value)
                buffer.append(UInt8(ascii: " "))
                buffer.appendTimestampSeconds(unixNanoseconds: exemplar.unixNanoseconds)
            }
            buffer.append(UInt8(ascii: "\n"))
        }
        buffer.append(contentsOf: series.sumPrefix)
        buffer.appendSampleValue(histogram.sum)
        buffer.append(UInt8(ascii: "\n"))
        // `_count` is the +Inf bucket by construction.
        buffer.append(contentsOf: series.countPrefix)
        buffer.appendDecimal(cumulative)
        buffer.append(UInt8(ascii: "\n"))
    }

    private func write(_ family: CollectedMetricFamily, openMetrics: Bool, into buffer: inout [UInt8]) {
        let header = FamilySnapshot(name: family.name, type: family.type, help: family.help, upperBounds: [], series: [])
        buffer.append(contentsOf: openMetrics ? header.openMetricsHeader : header.textHeader)
        let sampleName = openMetrics && family.type == .counter
            ? FamilySnapshot.openMetricsFamilyName(family.name, .counter) + "_total" : family.name
        let labelled = family.samples.map { sample in
            (labels: MetricsRegistry.normalizedLabels(sample.labels, metric: family.name), value: sample.value)
        }.sorted { a, b in
            for (x, y) in zip(a.labels, b.labels) where x != y { return x < y }
            return a.labels.count < b.labels.count
        }
        for sample in labelled {
            buffer.appendUTF8(sampleName)
            if !sample.labels.isEmpty {
                buffer.append(UInt8(ascii: "{"))
                for (i, label) in sample.labels.enumerated() {
                    if i > 0 { buffer.append(UInt8(ascii: ",")) }
                    buffer.appendUTF8(label.name)
                    buffer.appendASCII("=\"")
                    buffer.appendEscapedLabelValue(label.value)
                    buffer.append(UInt8(ascii: "\""))
                }
                buffer.append(UInt8(ascii: "}"))
            }
            buffer.append(UInt8(ascii: " "))
            buffer.appendSampleValue(sample.value)
            buffer.append(UInt8(ascii: "\n"))
        }
    }
}
