import Synchronization
import TelemetryCore

/// The kind of a metric family, as written in `# TYPE` lines.
public enum MetricType: String, Sendable {
    case counter, gauge, histogram, untyped
}

/// A set of metric families that renders itself as Prometheus text or OpenMetrics.
///
/// Handles (`Counter`, `Gauge`, `Histogram`) register here when created; creating a handle
/// with the same name and label set again returns the same series. Label sets are
/// escaped and rendered once, when the series is created. Tests create their own registry;
/// the service uses `MetricsSystem.registry`.
public final class MetricsRegistry: Sendable {
    struct FamilyState {
        let name: String
        let type: MetricType
        var help: String?
        let upperBounds: [Double]
        var series: [[UInt8]: SeriesEntry] = [:]
    }

    struct State {
        var families: [String: FamilyState] = [:]
        var pendingHelp: [String: String] = [:]
        var collectors: [any MetricsCollector] = []
        var snapshot: [FamilySnapshot]? = nil
    }

    let state = Mutex(State())

    public init() {}

    /// Sets the HELP text of a family, and optionally declares it (so that it is rendered,
    /// with HELP and TYPE, even before its first series exists).
    public func describe(name: String, help: String, type: MetricType? = nil) {
        MetricsRegistry.validateMetricName(name)
        state.withLock { state in
            if state.families[name] != nil {
                if let type { MetricsRegistry.checkType(state.families[name]!, type) }
                state.families[name]!.help = help
            } else if let type {
                precondition(type != .histogram, "describe(type: .histogram) cannot know the buckets; create the Histogram instead")
                state.families[name] = FamilyState(name: name, type: type, help: help, upperBounds: [])
            } else {
                state.pendingHelp[name] = help
            }
            state.snapshot = nil
        }
    }

    /// Adds a collector whose families are read at every scrape (process metrics, queue
    /// depths computed on demand).
    public func register(collector: any MetricsCollector) {
        state.withLock { $0.collectors.append(collector) }
    }

    /// Registers a series whose value is read by calling `read` at scrape time. Registering
    /// the same name and labels again replaces the callback.
    public func registerCallback(label: String, dimensions: [(String, String)] = [], type: MetricType = .gauge,
                                 help: String? = nil, _ read: @escaping @Sendable () -> Double) {
        precondition(type == .gauge || type == .counter || type == .untyped, "callbacks provide a single value")
        _ = series(name: label, dimensions: dimensions, type: type, help: help, upperBounds: [],
                   replaceWith: .callback(CallbackSeries(read)))
    }

    func counterSeries(name: String, dimensions: [(String, String)], help: String?) -> CounterSeries {
        guard case .counter(let storage) = series(name: name, dimensions: dimensions, type: .counter, help: help,
                                                   upperBounds: [], make: { .counter(CounterSeries()) }).value
        else { preconditionFailure("metric '\(name)' already registered with a callback") }
        return storage
    }

    func gaugeSeries(name: String, dimensions: [(String, String)], help: String?) -> GaugeSeries {
        guard case .gauge(let storage) = series(name: name, dimensions: dimensions, type: .gauge, help: help,
                                                 upperBounds: [], make: { .gauge(GaugeSeries()) }).value
        else { preconditionFailure("metric '\(name)' already registered with a callback") }
        return storage
    }

    func histogramSeries(name: String, dimensions: [(String, String)], help: String?,
                         upperBounds: [Double]) -> HistogramSeries {
        let bounds = MetricsRegistry.normalizedBounds(upperBounds)
        precondition(!dimensions.contains { $0.0 == "le" }, "histogram '\(name)' cannot use the label name 'le'")
        guard case .histogram(let storage) = series(
            name: name, dimensions: dimensions, type: .histogram, help: help, upperBounds: bounds,
            make: { .histogram(HistogramSeries(upperBounds: bounds)) }).value
        else { preconditionFailure("unreachable") }
        return storage
    }

    private func series(name: String, dimensions: [(String, String)], type: MetricType, help: String?,
                        upperBounds: [Double], make: (() -> SeriesValue)? = nil,
                        replaceWith replacement: SeriesValue? = nil) -> SeriesEntry {
        MetricsRegistry.validateMetricName(name)
        let labels = MetricsRegistry.normalizedLabels(dimensions, metric: name)
        var labelText: [UInt8] = []
        for (i, label) in labels.enumerated() {
            if i > 0 { labelText.append(UInt8(ascii: ",")) }
            labelText.appendUTF8(label.name)
            labelText.appendASCII("=\"")
            labelText.appendEscapedLabelValue(label.value)
            labelText.append(UInt8(ascii: "\""))
        }
        return state.withLock { state in
            if state.families[name] == nil {
                let pending = state.pendingHelp.removeValue(forKey: name)
                state.families[name] = FamilyState(name: name, type: type, help: help ?? pending, upperBounds: upperBounds)
            }
            // Mutated in place through the dictionary: copying the family out would copy its
            // series table on every insertion.
            MetricsRegistry.checkType(state.families[name]!, type)
            precondition(state.families[name]!.upperBounds == upperBounds,
                         "histogram '\(name)' already registered with buckets \(state.families[name]!.upperBounds), not \(upperBounds)")
            if let help, state.families[name]!.help == nil {
                state.families[name]!.help = help
                state.snapshot = nil
            }
            if replacement == nil, let existing = state.families[name]!.series[labelText] {
                return existing
            }
            let entry = SeriesEntry(name: name, type: type, labels: labels, labelText: labelText,
                                    value: replacement ?? make!())
            state.families[name]!.series[labelText] = entry
            state.snapshot = nil
            return entry
        }
    }

    private static func checkType(_ family: FamilyState, _ type: MetricType) {
        precondition(family.type == type,
                     "metric '\(family.name)' is already registered as a \(family.type), not a \(type)")
    }

    static func normalizedBounds(_ bounds: [Double]) -> [Double] {
        var result = bounds.filter { !$0.isNaN && $0 != .infinity }.sorted()
        var deduplicated: [Double] = []
        for b in result where deduplicated.last != b { deduplicated.append(b) }
        result = deduplicated
        return result
    }

    static func normalizedLabels(_ dimensions: [(String, String)], metric: String) -> [(name: String, value: String)] {
        var labels = dimensions.map { (name: $0.0, value: $0.1) }
        labels.sort { $0.name < $1.name }
        for (i, label) in labels.enumerated() {
            validateLabelName(label.name, metric: metric)
            precondition(i == 0 || labels[i - 1].name != label.name,
                         "metric '\(metric)' has the label '\(label.name)' twice")
        }
        return labels
    }

    static func validateMetricName(_ name: String) {
        var first = true
        var valid = !name.isEmpty
        for byte in name.utf8 {
            let isLetter = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x3A
            let isDigit = byte >= 0x30 && byte <= 0x39
            if !(isLetter || (!first && isDigit)) { valid = false }
            first = false
        }
        precondition(valid, "invalid metric name '\(name)': use [a-zA-Z_:][a-zA-Z0-9_:]*")
    }

    static func validateLabelName(_ name: String, metric: String) {
        var first = true
        var valid = !name.isEmpty && !name.hasPrefix("__")
        for byte in name.utf8 {
            let isLetter = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
            let isDigit = byte >= 0x30 && byte <= 0x39
            if !(isLetter || (!first && isDigit)) { valid = false }
            first = false
        }
        precondition(valid, "invalid label name '\(name)' on metric '\(metric)': use [a-zA-Z_][a-zA-Z0-9_]*, no leading __")
    }
}

enum SeriesValue: Sendable {
    case counter(CounterSeries)
    case gauge(GaugeSeries)
    case histogram(HistogramSeries)
    case callback(CallbackSeries)
}

/// A series whose value is read at scrape time.
final class CallbackSeries: Sendable {
    let read: @Sendable () -> Double
    init(_ read: @escaping @Sendable () -> Double) { self.read = read }
}

/// One series with everything the writer needs prerendered at creation.
final class SeriesEntry: Sendable {
    let labels: [(name: String, value: String)]
    /// `a="x",b="y"` (escaped), empty for no labels.
    let labelText: [UInt8]
    /// `name{labels} ` for counters, gauges and callbacks, per format.
    let textPrefix: [UInt8]
    let openMetricsPrefix: [UInt8]
    /// `name_bucket{labels,le="` for histograms (the bound and `"} ` follow, from the family).
    let bucketPrefix: [UInt8]
    /// `name_sum{labels} ` and `name_count{labels} ` for histograms.
    let sumPrefix: [UInt8]
    let countPrefix: [UInt8]
    let value: SeriesValue

    init(name familyName: String, type: MetricType, labels: [(name: String, value: String)], labelText: [UInt8],
         value: SeriesValue) {
        self.labels = labels
        self.labelText = labelText
        self.value = value
        func prefix(_ name: String) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendUTF8(name)
            if !labelText.isEmpty {
                bytes.append(UInt8(ascii: "{"))
                bytes.append(contentsOf: labelText)
                bytes.append(UInt8(ascii: "}"))
            }
            bytes.append(UInt8(ascii: " "))
            return bytes
        }
        switch type {
        case .histogram:
            textPrefix = []
            openMetricsPrefix = []
            var bucket: [UInt8] = []
            bucket.appendUTF8(familyName)
            bucket.appendASCII("_bucket{")
            if !labelText.isEmpty {
                bucket.append(contentsOf: labelText)
                bucket.append(UInt8(ascii: ","))
            }
            bucket.appendASCII("le=\"")
            bucketPrefix = bucket
            sumPrefix = prefix(familyName + "_sum")
            countPrefix = prefix(familyName + "_count")
        case .counter:
            textPrefix = prefix(familyName)
            openMetricsPrefix = prefix(FamilySnapshot.openMetricsFamilyName(familyName, .counter) + "_total")
            bucketPrefix = []
            sumPrefix = []
            countPrefix = []
        case .gauge, .untyped:
            textPrefix = prefix(familyName)
            openMetricsPrefix = textPrefix
            bucketPrefix = []
            sumPrefix = []
            countPrefix = []
        }
    }

    static func ordered(_ a: SeriesEntry, _ b: SeriesEntry) -> Bool {
        for (x, y) in zip(a.labels, b.labels) {
            if x.name != y.name { return x.name < y.name }
            if x.value != y.value { return x.value < y.value }
        }
        return a.labels.count < b.labels.count
    }
}
