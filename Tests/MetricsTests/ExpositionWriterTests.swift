import Foundation
import Synchronization
import Testing
@testable import Metrics
import TelemetryCore

/// The batched, pointer-based writer against a plain line-by-line renderer of the same
/// registry (the writer as it was before): every byte must match, in both formats.
@Suite struct ExpositionWriterTests {
    struct Noise {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
    }

    /// Renders registered families only (no collectors), the straightforward way.
    func referenceRender(_ registry: MetricsRegistry, openMetrics: Bool) -> String {
        var out = ""
        func labelText(_ entry: SeriesEntry) -> String { String(decoding: entry.labelText, as: UTF8.self) }
        func value(_ v: Double) -> String {
            var bytes: [UInt8] = []
            bytes.appendSampleValue(v)
            return String(decoding: bytes, as: UTF8.self)
        }
        for family in registry.snapshot().0 {
            out += String(decoding: openMetrics ? family.openMetricsHeader : family.textHeader, as: UTF8.self)
            for entry in family.series {
                let labels = labelText(entry)
                switch entry.value {
                case .counter(let c):
                    let name = openMetrics ? FamilySnapshot.openMetricsFamilyName(family.name, .counter) + "_total" : family.name
                    out += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + value(c.value) + "\n"
                case .gauge(let g):
                    out += family.name + (labels.isEmpty ? "" : "{\(labels)}") + " " + value(g.value) + "\n"
                case .callback(let c):
                    let name = openMetrics && family.type == .counter
                        ? FamilySnapshot.openMetricsFamilyName(family.name, .counter) + "_total" : family.name
                    out += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + value(c.read()) + "\n"
                case .histogram(let h):
                    var cumulative: UInt64 = 0
                    for (i, bound) in (h.upperBounds + [.infinity]).enumerated() {
                        cumulative += h.count(bucket: i)
                        out += family.name + "_bucket{" + (labels.isEmpty ? "" : labels + ",")
                            + "le=\"\(canonicalBucketBound(bound, openMetrics: openMetrics))\"} \(cumulative)"
                        if openMetrics, let e = h.exemplar(bucket: i) {
                            var ts: [UInt8] = []
                            ts.appendTimestampSeconds(unixNanoseconds: e.unixNanoseconds)
                            out += " # {trace_id=\"\(e.traceID)\",span_id=\"\(e.spanID)\"} \(value(e.value)) "
                                + String(decoding: ts, as: UTF8.self)
                        }
                        out += "\n"
                    }
                    out += family.name + "_sum" + (labels.isEmpty ? "" : "{\(labels)}") + " " + value(h.sum) + "\n"
                    out += family.name + "_count" + (labels.isEmpty ? "" : "{\(labels)}") + " \(cumulative)\n"
                }
            }
        }
        return out + (openMetrics ? "# EOF\n" : "")
    }

    @Test func matchesTheReferenceRenderer() {
        let registry = MetricsRegistry()
        var noise = Noise(state: 12345)
        let odd = ["plain", "with \"quotes\"", "back\\slash", "new\nline", "ünïcödé", ""]
        // Many series (more than one batch and one chunk), labels that need escaping, no labels.
        for i in 0..<300 {
            let labels = [("model", "m\(i % 17)"), ("version", odd[i % odd.count] + "\(i)")]
            Counter(label: "c_total", dimensions: labels, registry: registry).increment(by: Int(noise.next() % 1000))
            Counter(label: "ratio", dimensions: labels, registry: registry).increment(by: Double(noise.next() % 1000) / 7)
            Gauge(label: "g", dimensions: labels, registry: registry).set(Double(Int64(bitPattern: noise.next())) / 1e9)
            let h = Histogram(label: "h_seconds", dimensions: labels, registry: registry)
            for j in 0..<Int(noise.next() % 30) {
                let v = Double(noise.next() % 5_000_000_000) / 1e9
                if j % 3 == 0 {
                    h.observe(v, exemplar: (TraceID(high: noise.next(), low: noise.next()), SpanID(noise.next())))
                } else {
                    h.observe(v)
                }
            }
        }
        Counter(label: "bare_total", registry: registry).increment()
        Gauge(label: "special", dimensions: [("k", "nan")], registry: registry).set(Double.nan)
        Gauge(label: "special", dimensions: [("k", "inf")], registry: registry).set(-Double.infinity)
        registry.registerCallback(label: "cb_total", type: .counter, help: "C.") { 12.5 }
        // A histogram with more than 64 buckets: exemplars past bucket 63 share one mask bit.
        let wide = Histogram(label: "wide", dimensions: [("x", "y")], buckets: Histogram.linearBuckets(start: 1, width: 1, count: 80),
                             registry: registry)
        for v in [0.5, 10, 62.5, 63.5, 70, 79.5, 200] {
            wide.observe(v, exemplar: (TraceID(high: 1, low: UInt64(v * 10)), SpanID(2)))
        }
        Histogram(label: "empty_seconds", registry: registry).observe(0)
        for openMetrics in [false, true] {
            let rendered = registry.render(openMetrics ? .openMetrics : .prometheusText)
            let reference = referenceRender(registry, openMetrics: openMetrics)
            #expect(rendered == reference)
            if rendered != reference {
                let a = rendered.split(separator: "\n"), b = reference.split(separator: "\n")
                if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                    Issue.record("first difference at line \(i): \(a[i]) vs \(b[i])")
                }
            }
        }
        // Rendering appends: a second render into the same buffer repeats the first.
        var buffer: [UInt8] = []
        registry.render(.openMetrics, into: &buffer)
        let once = buffer.count
        registry.render(.openMetrics, into: &buffer)
        #expect(buffer.count == 2 * once && Array(buffer[..<once]) == Array(buffer[once...]))
    }

    @Test func exemplarSlotsNeverTearUnderConcurrentWrites() {
        final class Box: Sendable { let slot = ExemplarSlot() }
        let box = Box()
        let stop = Atomic<Bool>(false)
        let writersDone = Atomic<Int>(0)
        // Two writers replace the exemplar as fast as they can; every exemplar they store has
        // trace id low == span id == value × 1e6, so a torn read breaks the relation.
        for worker in 1...2 {
            Thread {
                var n = UInt64(worker) << 32
                while !stop.load(ordering: .relaxed) {
                    n += 1
                    let id = n % 900_000 + 1
                    box.slot.store(BucketExemplar(traceID: TraceID(high: 1, low: id), spanID: SpanID(id),
                                                  value: Double(id) / 1e6, unixNanoseconds: n))
                }
                writersDone.wrappingAdd(1, ordering: .relaxed)
            }.start()
        }
        var seen = 0
        var torn = 0
        let deadline = Date().addingTimeInterval(10)
        while seen < 100_000 && Date() < deadline {
            if let e = box.slot.load() {
                seen += 1
                if e.traceID.low != e.spanID.value || UInt64((e.value * 1e6).rounded()) != e.spanID.value { torn += 1 }
            }
        }
        stop.store(true, ordering: .relaxed)
        while writersDone.load(ordering: .relaxed) < 2 { usleep(1000) }
        #expect(torn == 0)
        #expect(seen > 0)
        #expect(box.slot.load() != nil)
    }

    /// A bucket keeps its exemplar for `exemplarIntervalNanoseconds`, then the next sampled
    /// observation replaces it; another bucket's first exemplar is stored at once.
    @Test func aBucketsExemplarIsReplacedAtMostOncePerInterval() async throws {
        let registry = MetricsRegistry()
        let h = Histogram(label: "paced_seconds", buckets: [1], registry: registry)
        h.observe(0.5, exemplar: (TraceID(high: 0, low: 1), SpanID(1)))
        h.observe(0.6, exemplar: (TraceID(high: 0, low: 2), SpanID(2)))
        #expect(h.storage.exemplar(bucket: 0)?.spanID == SpanID(1))
        h.observe(5, exemplar: (TraceID(high: 0, low: 3), SpanID(3)))
        #expect(h.storage.exemplar(bucket: 1)?.spanID == SpanID(3))
        try await Task.sleep(for: .nanoseconds(HistogramSeries.exemplarIntervalNanoseconds + 20_000_000))
        h.observe(0.7, exemplar: (TraceID(high: 0, low: 4), SpanID(4)))
        #expect(h.storage.exemplar(bucket: 0)?.spanID == SpanID(4))
        #expect(h.count == 4)
    }
}
