import TelemetryCore

/// A distribution in cumulative buckets, with the latest trace exemplar per bucket.
///
///     let queueWait = Histogram(label: "pd_inference_queue_duration_seconds",
///                               dimensions: [("model", name), ("version", v)])
///     queueWait.observe(0.0123)
///     queueWait.recordNanoseconds(elapsed)                      // seconds histograms
///     queueWait.observe(0.0123, exemplar: (span.traceContext.traceID, span.traceContext.spanID))
///
/// `observe` is an atomic bucket increment plus a CAS on the sum; it never allocates.
/// Exemplars are written only in the OpenMetrics format.
public struct Histogram: Sendable {
    let storage: HistogramSeries

    /// Latency buckets with the usual SLO edges, in seconds.
    public static let defaultBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// `count` buckets starting at `start`, each `factor` times the previous (1, 2, 4, …).
    public static func exponentialBuckets(start: Double, factor: Double, count: Int) -> [Double] {
        precondition(start > 0 && factor > 1 && count > 0)
        var result: [Double] = []
        var bound = start
        for _ in 0..<count {
            result.append(bound)
            bound *= factor
        }
        return result
    }

    /// `count` buckets starting at `start`, `width` apart.
    public static func linearBuckets(start: Double, width: Double, count: Int) -> [Double] {
        precondition(width > 0 && count > 0)
        return (0..<count).map { start + Double($0) * width }
    }

    /// `buckets` are the finite upper bounds; `+Inf` is always added. All series of one
    /// family must use the same buckets.
    public init(label: String, dimensions: [(String, String)] = [], buckets: [Double] = Histogram.defaultBuckets,
                help: String? = nil, registry: MetricsRegistry = MetricsSystem.registry) {
        storage = registry.histogramSeries(name: label, dimensions: dimensions, help: help, upperBounds: buckets)
    }

    /// Records one observation.
    @inlinable
    public func observe(_ value: Double) { _observe(value) }

    /// Records one observation and keeps it as its bucket's exemplar (OpenMetrics only).
    @inlinable
    public func observe(_ value: Double, exemplar: (traceID: TraceID, spanID: SpanID)?) {
        if let exemplar {
            _observe(value, exemplar.traceID, exemplar.spanID)
        } else {
            _observe(value)
        }
    }

    /// Records one observation with the span bound to `context` as the exemplar, when that
    /// span is sampled (an exemplar should point at a trace that was exported).
    @inlinable
    public func observe(_ value: Double, exemplarFrom context: ServiceContext?) {
        if let trace = context?.traceContext, trace.isSampled {
            _observe(value, trace.traceID, trace.spanID)
        } else {
            _observe(value)
        }
    }

    /// Records one observation (swift-metrics `Recorder.record`).
    @inlinable
    public func record<DataType: BinaryFloatingPoint>(_ value: DataType) { _observe(Double(value)) }

    /// Records one observation (swift-metrics `Recorder.record`).
    @inlinable
    public func record<DataType: BinaryInteger>(_ value: DataType) { _observe(Double(value)) }

    /// Records a duration given in nanoseconds into a histogram measured in seconds
    /// (swift-metrics `Timer.recordNanoseconds`).
    @inlinable
    public func recordNanoseconds<DataType: BinaryInteger>(_ duration: DataType,
                                                           exemplar: (traceID: TraceID, spanID: SpanID)? = nil) {
        observe(Double(duration) / 1e9, exemplar: exemplar)
    }

    /// Records a `Duration` into a histogram measured in seconds.
    @inlinable
    public func record(_ duration: Duration, exemplar: (traceID: TraceID, spanID: SpanID)? = nil) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) / 1e18, exemplar: exemplar)
    }

    @usableFromInline func _observe(_ value: Double) { storage.observe(value) }
    @usableFromInline func _observe(_ value: Double, _ traceID: TraceID, _ spanID: SpanID) {
        storage.observe(value, traceID: traceID, spanID: spanID)
    }

    /// Observations so far (equals the `+Inf` bucket).
    public var count: UInt64 { storage.count }

    /// Sum of the observations so far.
    public var sum: Double { storage.sum }
}
