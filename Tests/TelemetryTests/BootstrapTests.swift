import Foundation
import Testing
@testable import Telemetry

/// The process-wide entry points, exercised the way the service wires them at startup.
@Suite struct BootstrapTests {
    @Test func serviceStartupWiring() throws {
        let output = CapturedOutput()
        let writer = output.makeWriter()
        LoggingSystem.bootstrap(format: .json, logLevel: .debug, metadataProvider: .traceContext, writer: writer)
        let registry = MetricsRegistry()
        MetricsSystem.bootstrap(registry)
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .seconds(60)))
        TracingSystem.bootstrap(Tracer(sampler: .parentBased(root: .alwaysOn), processor: processor))
        registry.registerTelemetryMetrics(logWriter: writer, spanProcessor: processor)
        defer {
            TracingSystem.bootstrap(.noop)
            MetricsSystem.bootstrap(MetricsRegistry())
            LoggingSystem.bootstrap { StreamLogHandler(label: $0) }
        }

        let logger = Logger(label: "http")
        let latency = Histogram(label: "pd_http_request_duration_seconds", dimensions: [("method", "POST"), ("route", "/v2/models/{model}/infer")])
        let headers = ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
        let parent = W3CTraceContextPropagator().extract { headers[$0] }
        var responseHeaders: [String: String] = [:]
        withSpan("POST /v2/models/{model}/infer", context: ServiceContext(traceContext: parent), ofKind: .server) { span in
            logger.debug("request started")
            latency.observe(0.042, exemplarFrom: ServiceContext.current)
            W3CTraceContextPropagator().inject(span.traceContext) { responseHeaders[$0] = $1 }
        }
        #expect(writer.flush())
        #expect(processor.forceFlush(timeout: .seconds(5)))

        let line = try #require(output.lines.first)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        let span = try #require(exporter.spans.first)
        #expect(object["span_id"] as? String == span.context.spanID.description)
        #expect(responseHeaders["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(span.context.spanID)-01")
        let metrics = registry.render(.openMetrics)
        #expect(metrics.contains("le=\"0.05\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"\(span.context.spanID)\"} 0.042 "))
        #expect(metrics.contains("pd_trace_spans_exported_total 1\n"))
        #expect(processor.shutdown(timeout: .seconds(5)))
    }
}
