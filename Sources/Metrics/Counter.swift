/// A monotonically increasing value, shaped like swift-metrics' `Counter`.
///
///     let requests = Counter(label: "pd_http_requests_total",
///                            dimensions: [("method", "GET"), ("route", "/healthz"), ("code", "200")])
///     requests.increment()
///
/// Create handles once and keep them; `increment` is a single atomic add and never allocates.
/// Name counters with their `_total` suffix: the Prometheus text format writes the name as
/// given, and OpenMetrics writes the family without `_total` and the sample with it.
public struct Counter: Sendable {
    let storage: CounterSeries

    public init(label: String, dimensions: [(String, String)] = [], help: String? = nil,
                registry: MetricsRegistry = MetricsSystem.registry) {
        storage = registry.counterSeries(name: label, dimensions: dimensions, help: help)
    }

    /// Adds `amount` (negative amounts are ignored: counters only go up).
    @inlinable
    public func increment<DataType: BinaryInteger>(by amount: DataType) {
        let value = Int64(clamping: amount)
        if value > 0 { _increment(value) }
    }

    /// Adds a fractional amount (e.g. CPU seconds).
    @inlinable
    public func increment<DataType: BinaryFloatingPoint>(by amount: DataType) {
        _increment(Double(amount))
    }

    @inlinable
    public func increment() { _increment(1 as Int64) }

    @usableFromInline func _increment(_ amount: Int64) { storage.increment(by: amount) }
    @usableFromInline func _increment(_ amount: Double) { storage.increment(by: amount) }

    /// Sets the counter back to zero (tests; a real counter reset is a process restart).
    public func reset() { storage.reset() }

    /// The current total.
    public var value: Double { storage.value }
}
