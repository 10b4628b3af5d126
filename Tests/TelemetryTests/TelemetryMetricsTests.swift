import Testing
import Telemetry

/// The metrics the telemetry pipeline keeps about itself (`registerTelemetryMetrics`).
@Suite struct TelemetryMetricsTests {
    @Test func telemetrySelfMetricsAreRegistered() {
        let registry = MetricsRegistry()
        registry.registerTelemetryMetrics(logWriter: LogLineWriter(sink: { _ in }), spanProcessor: nil)
        let text = registry.render()
        for name in ["pd_log_lines_dropped_total 0", "pd_trace_spans_exported_total 0", "pd_trace_spans_dropped_total 0"] {
            #expect(text.contains("\n\(name)\n"))
        }
    }
}
