/// Produces metric families at scrape time (process statistics, values owned elsewhere).
/// `collect()` runs on the scraping thread for every scrape; keep it cheap.
public protocol MetricsCollector: Sendable {
    func collect() -> [CollectedMetricFamily]
}

/// A family produced by a `MetricsCollector`.
public struct CollectedMetricFamily: Sendable {
    public var name: String
    public var type: MetricType
    public var help: String
    public var samples: [Sample]

    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: Double

        public init(labels: [(String, String)] = [], value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    public init(name: String, type: MetricType, help: String, samples: [Sample]) {
        precondition(type != .histogram, "collectors provide counters, gauges and untyped values")
        self.name = name
        self.type = type
        self.help = help
        self.samples = samples
    }

    /// A family with a single unlabelled sample.
    public init(name: String, type: MetricType, help: String, value: Double) {
        self.init(name: name, type: type, help: help, samples: [Sample(value: value)])
    }
}
