import Foundation
import Testing
@testable import Metrics
import TelemetryCore

@Suite struct MetricsTests {
    @Test func sameLabelAndDimensionsShareOneSeries() {
        let registry = MetricsRegistry()
        let a = Counter(label: "c_total", dimensions: [("x", "1"), ("y", "2")], registry: registry)
        let b = Counter(label: "c_total", dimensions: [("y", "2"), ("x", "1")], registry: registry)
        a.increment()
        b.increment(by: 2)
        #expect(a.value == 3)
        #expect(b.value == 3)
        let other = Counter(label: "c_total", dimensions: [("x", "1"), ("y", "3")], registry: registry)
        #expect(other.value == 0)
    }

    @Test func countersAreExactUnderConcurrentIncrements() {
        let registry = MetricsRegistry()
        let counter = Counter(label: "hits_total", registry: registry)
        let gauge = Gauge(label: "level", registry: registry)
        let histogram = Histogram(label: "h_seconds", buckets: [0.5], registry: registry)
        let threads = 8
        let perThread = 50_000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                counter.increment()
                gauge.increment(by: 1)
                histogram.observe(i % 2 == 0 ? 0.25 : 1)
                if t == 0 && i % 1000 == 0 { _ = registry.render() }  // scrapes race with updates
            }
        }
        #expect(counter.value == Double(threads * perThread))
        #expect(gauge.value == Double(threads * perThread))
        #expect(histogram.count == UInt64(threads * perThread))
        #expect(histogram.sum == Double(threads * perThread / 2) * 1.25)
        #expect(registry.render().contains("h_seconds_bucket{le=\"0.5\"} \(threads * perThread / 2)\n"))
    }

    @Test func fractionalCounterAndGaugeOperations() {
        let registry = MetricsRegistry()
        let c = Counter(label: "cpu_seconds_total", registry: registry)
        c.increment(by: 0.25)
        c.increment(by: 2)
        c.increment(by: -5)  // ignored
        #expect(c.value == 2.25)
        let g = Gauge(label: "g", registry: registry)
        g.set(10)
        g.decrement(by: 2.5)
        g.decrement()
        g.increment()
        #expect(g.value == 7.5)
        g.record(3)
        #expect(g.value == 3)
    }

    @Test func histogramTimerConveniences() {
        let registry = MetricsRegistry()
        let h = Histogram(label: "t_seconds", buckets: [0.001, 0.01, 0.1], registry: registry)
        h.recordNanoseconds(5_000_000)  // 5 ms
        h.record(Duration.milliseconds(50))
        h.record(2)
        #expect(h.count == 3)
        #expect(abs(h.sum - 2.055) < 1e-12)
        let text = registry.render()
        #expect(text.contains("t_seconds_bucket{le=\"0.01\"} 1\n"))
        #expect(text.contains("t_seconds_bucket{le=\"0.1\"} 2\n"))
        #expect(text.contains("t_seconds_bucket{le=\"+Inf\"} 3\n"))
    }

    @Test func processCollectorReturnsPlausibleValues() {
        let registry = MetricsRegistry()
        registry.register(collector: ProcessCollector())
        var values: [String: Double] = [:]
        for line in registry.render().split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            values[String(parts[0])] = Double(parts[1])
        }
        let now = Date().timeIntervalSince1970
        #expect((values["process_cpu_seconds_total"] ?? -1) >= 0)
        #expect((values["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect((values["process_virtual_memory_bytes"] ?? 0) >= values["process_resident_memory_bytes"] ?? .infinity)
        #expect((values["process_open_fds"] ?? 0) >= 3)
        #expect((values["process_max_fds"] ?? 0) >= values["process_open_fds"] ?? .infinity)
        let start = values["process_start_time_seconds"] ?? 0
        #expect(start > now - 24 * 3600 && start <= now + 1)
    }

    @Test func gzipRoundTrip() throws {
        let input = Array(String(repeating: "pd_http_requests_total{code=\"200\"} 1\n", count: 2000).utf8)
        let compressed = try Gzip.compress(input)
        #expect(compressed.count < input.count / 10)
        #expect(compressed.prefix(2) == [0x1F, 0x8B])  // gzip magic, i.e. windowBits 31
        #expect(try Gzip.decompress(compressed) == input)
        #expect(try Gzip.decompress(Gzip.compress([])) == [])
    }
}
