/// The two exposition formats served on `/metrics`.
public enum ExpositionFormat: Sendable, Equatable {
    /// Prometheus text format 0.0.4.
    case prometheusText
    /// OpenMetrics 1.0 text: counters' families without `_total`, exemplars, `# EOF`.
    case openMetrics

    /// The `Content-Type` response header for this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// Chooses the format for an `Accept` header: OpenMetrics when an
    /// `application/openmetrics-text` range (version 1.0.0, 0.0.1 or none) has q > 0 and is
    /// at least as preferred as every range that matches the text format; text 0.0.4 otherwise
    /// (also for a missing header, `*/*`, or OpenMetrics versions this writer does not produce).
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        var openMetricsQ = 0.0
        var textQ = 0.0
        for element in HeaderList.elements(accept) {
            let type = element.value.lowercased()
            let version = element.parameters.first { $0.name.lowercased() == "version" }.map { String($0.value) }
            switch type {
            case "application/openmetrics-text":
                if version == nil || version == "1.0.0" || version == "0.0.1" {
                    openMetricsQ = max(openMetricsQ, element.quality)
                }
            case "text/plain":
                if version == nil || version == "0.0.4" { textQ = max(textQ, element.quality) }
            case "text/*", "*/*":
                textQ = max(textQ, element.quality)
            default:
                break
            }
        }
        return openMetricsQ > 0 && openMetricsQ >= textQ ? .openMetrics : .prometheusText
    }
}

/// A metric family as prepared for writing: headers and bucket labels prerendered.
struct FamilySnapshot: Sendable {
    let name: String
    let type: MetricType
    let textHeader: [UInt8]
    let openMetricsHeader: [UInt8]
    let series: [SeriesEntry]
    /// `name_bucket{` for histograms.
    let bucketPrefix: [UInt8]
    /// `le="0.005"} ` … `le="+Inf"} `, one per bucket, per format.
    let textBucketLabels: [[UInt8]]
    let openMetricsBucketLabels: [[UInt8]]

    /// OpenMetrics names a counter family without its `_total` suffix.
    static func openMetricsFamilyName(_ name: String, _ type: MetricType) -> String {
        if type == .counter, name.hasSuffix("_total"), name.count > 6 { return String(name.dropLast(6)) }
        return name
    }

    init(name: String, type: MetricType, help: String?, upperBounds: [Double], series: [SeriesEntry]) {
        self.name = name
        self.type = type
        self.series = series
        let help = help ?? name
        var text: [UInt8] = []
        text.appendASCII("# HELP ")
        text.appendUTF8(name)
        text.append(UInt8(ascii: " "))
        text.appendEscapedHelp(help, openMetrics: false)
        text.appendASCII("\n# TYPE ")
        text.appendUTF8(name)
        text.append(UInt8(ascii: " "))
        text.appendUTF8(type.rawValue)
        text.append(UInt8(ascii: "\n"))
        textHeader = text

        let familyName = FamilySnapshot.openMetricsFamilyName(name, type)
        var om: [UInt8] = []
        om.appendASCII("# TYPE ")
        om.appendUTF8(familyName)
        om.append(UInt8(ascii: " "))
        om.appendUTF8(type == .untyped ? "unknown" : type.rawValue)
        om.appendASCII("\n# HELP ")
        om.appendUTF8(familyName)
        om.append(UInt8(ascii: " "))
        om.appendEscapedHelp(help, openMetrics: true)
        om.append(UInt8(ascii: "\n"))
        openMetricsHeader = om

        if type == .histogram {
            var prefix: [UInt8] = []
            prefix.appendUTF8(name)
            prefix.appendASCII("_bucket{")
            bucketPrefix = prefix
            func labels(openMetrics: Bool) -> [[UInt8]] {
                (upperBounds + [.infinity]).map { bound in
                    var bytes: [UInt8] = []
                    bytes.appendASCII("le=\"")
                    bytes.appendUTF8(canonicalBucketBound(bound, openMetrics: openMetrics))
                    bytes.appendASCII("\"} ")
                    return bytes
                }
            }
            textBucketLabels = labels(openMetrics: false)
            openMetricsBucketLabels = labels(openMetrics: true)
        } else {
            bucketPrefix = []
            textBucketLabels = []
            openMetricsBucketLabels = []
        }
    }
}
