import Logging
import Metrics
import Tracing

extension MetricsRegistry {
    /// Registers the telemetry pipeline's own counters, read at scrape time:
    /// `pd_log_lines_dropped_total`, `pd_trace_spans_exported_total`,
    /// `pd_trace_spans_dropped_total` and the span queue's depth and capacity. Without a
    /// processor the span counters stay at zero.
    public func registerTelemetryMetrics(logWriter: LogLineWriter = .standardOutput,
                                         spanProcessor: BatchSpanProcessor?) {
        registerCallback(label: "pd_log_lines_dropped_total", type: .counter,
                         help: "Log lines dropped because the log buffer was full.") {
            Double(logWriter.droppedLines)
        }
        registerCallback(label: "pd_log_lines_written_total", type: .counter,
                         help: "Log lines written to standard output.") {
            Double(logWriter.writtenLines)
        }
        registerCallback(label: "pd_trace_spans_exported_total", type: .counter,
                         help: "Spans accepted by the trace exporter.") {
            Double(spanProcessor?.exportedSpans ?? 0)
        }
        registerCallback(label: "pd_trace_spans_dropped_total", type: .counter,
                         help: "Spans dropped: span queue full, or export failed after retries.") {
            Double(spanProcessor?.droppedSpans ?? 0)
        }
        registerCallback(label: "pd_trace_span_queue_depth", type: .gauge,
                         help: "Spans waiting to be exported.") {
            Double(spanProcessor?.queueDepth ?? 0)
        }
        registerCallback(label: "pd_trace_span_queue_capacity", type: .gauge,
                         help: "Capacity of the span export queue.") {
            Double(spanProcessor?.configuration.maxQueueSize ?? 0)
        }
    }
}
