import Synchronization
import TelemetryCore

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

    /// Bytes written per `appendRaw` chunk: large enough to amortise growing the array,
    /// small enough to stay in cache between growing and writing.
    static let chunkBytes = 32 * 1024

    private func write(_ family: FamilySnapshot, openMetrics: Bool, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: openMetrics ? family.openMetricsHeader : family.textHeader)
        if family.type == .histogram {
            writeHistograms(family, openMetrics: openMetrics, into: &buffer)
            return
        }
        let maxLine = family.maxLineBytes
        family.rows.withUnsafeBufferPointer { rows in
            family.prefixes.withUnsafeBufferPointer { prefixes in
                let prefixes = prefixes.baseAddress!
                var next = 0
                while next < rows.count {
                    buffer.appendRaw(maxCount: MetricsRegistry.chunkBytes + maxLine) { cursor in
                        var out = cursor  // a local the optimiser keeps in registers
                        defer { cursor = out }
                        let chunkEnd = out.position + MetricsRegistry.chunkBytes
                        while next < rows.count && out.position < chunkEnd {
                            let row = rows[next]
                            let prefix = openMetrics ? row.openMetrics : row.text
                            out.writePadded(prefixes + Int(prefix.start), count: Int(prefix.count))
                            switch row.value {
                            case .counter(let counter): out.writeSampleValue(counter._withUnsafeGuaranteedRef { $0.value })
                            case .gauge(let gauge): out.writeSampleValue(gauge._withUnsafeGuaranteedRef { $0.value })
                            case .callback(let callback): out.writeSampleValue(callback._withUnsafeGuaranteedRef { $0.read() })
                            case .histogram: preconditionFailure("histogram series in a \(family.type) family")
                            }
                            out.write(UInt8(ascii: "\n"))
                            next += 1
                        }
                    }
                }
            }
        }
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
