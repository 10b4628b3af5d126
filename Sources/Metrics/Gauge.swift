/// A value that goes up and down, shaped like swift-metrics' `Gauge`/`Meter`.
///
///     let depth = Gauge(label: "pd_inference_queue_depth", dimensions: [("model", name), ("version", v)])
///     depth.increment()
///     depth.decrement()
///
/// Updates are lock-free atomics on the Double's bit pattern and never allocate.
public struct Gauge: Sendable {
    let storage: GaugeSeries

    public init(label: String, dimensions: [(String, String)] = [], help: String? = nil,
                registry: MetricsRegistry = MetricsSystem.registry) {
        storage = registry.gaugeSeries(name: label, dimensions: dimensions, help: help)
    }

    /// Sets the value.
    @inlinable
    public func set<DataType: BinaryFloatingPoint>(_ value: DataType) { _set(Double(value)) }

    /// Sets the value.
    @inlinable
    public func set<DataType: BinaryInteger>(_ value: DataType) { _set(Double(value)) }

    /// Sets the value (swift-metrics `Gauge.record`).
    @inlinable
    public func record<DataType: BinaryFloatingPoint>(_ value: DataType) { _set(Double(value)) }

    /// Sets the value (swift-metrics `Gauge.record`).
    @inlinable
    public func record<DataType: BinaryInteger>(_ value: DataType) { _set(Double(value)) }

    /// Adds `amount` (default 1).
    @inlinable
    public func increment<DataType: BinaryFloatingPoint>(by amount: DataType) { _add(Double(amount)) }

    @inlinable
    public func increment<DataType: BinaryInteger>(by amount: DataType) { _add(Double(amount)) }

    @inlinable
    public func increment() { _add(1) }

    /// Subtracts `amount` (default 1).
    @inlinable
    public func decrement<DataType: BinaryFloatingPoint>(by amount: DataType) { _add(-Double(amount)) }

    @inlinable
    public func decrement<DataType: BinaryInteger>(by amount: DataType) { _add(-Double(amount)) }

    @inlinable
    public func decrement() { _add(-1) }

    @usableFromInline func _set(_ value: Double) { storage.set(value) }
    @usableFromInline func _add(_ delta: Double) { storage.add(delta) }

    /// The current value.
    public var value: Double { storage.value }
}
