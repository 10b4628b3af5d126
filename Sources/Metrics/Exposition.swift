import TelemetryCore

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

/// A byte range in one of a snapshot's arenas.
struct ArenaRange: Sendable {
    var start: Int32
    var count: Int32

    static let empty = ArenaRange(start: 0, count: 0)
}

/// A metric family as prepared for writing: headers rendered, and every series' line
/// prefixes copied back to back into one arena, so a scrape walks flat arrays and copies
/// bytes instead of following one small array per line.
struct FamilySnapshot: Sendable {
    /// A series' storage without reference counting: `series` keeps every object alive for
    /// the snapshot's lifetime, so a scrape reads them through unretained references and
    /// copies rows without a retain and release per series.
    enum RowValue: Sendable {
        case counter(Unmanaged<CounterSeries>)
        case gauge(Unmanaged<GaugeSeries>)
        case histogram(Unmanaged<HistogramSeries>)
        case callback(Unmanaged<CallbackSeries>)

        init(_ value: SeriesValue) {
            switch value {
            case .counter(let s): self = .counter(.passUnretained(s))
            case .gauge(let s): self = .gauge(.passUnretained(s))
            case .histogram(let s): self = .histogram(.passUnretained(s))
            case .callback(let s): self = .callback(.passUnretained(s))
            }
        }
    }

    /// One series: its storage and where its prefixes are in `prefixes`.
    struct Row: Sendable {
        let value: RowValue
        /// Counters, gauges, callbacks: `name{labels} ` per format. Histograms: `name_bucket{labels,le="` in `text`.
        let text: ArenaRange
        let openMetrics: ArenaRange
        /// Histograms: `name_sum{labels} ` and `name_count{labels} `.
        let sum: ArenaRange
        let count: ArenaRange
    }

    let name: String
    let type: MetricType
    /// Owns the storage `rows` refer to.
    let series: [SeriesEntry]
    let textHeader: [UInt8]
    let openMetricsHeader: [UInt8]
    let rows: [Row]
    let prefixes: [UInt8]
    /// Histograms: `0.005"} ` … `+Inf"} ` per bucket, per format, in `bounds`.
    let textBounds: [ArenaRange]
    let openMetricsBounds: [ArenaRange]
    let bounds: [UInt8]
    /// Most bytes one line can take, exemplar aside: the longest prefix and bound, a value, a
    /// newline, and the room padded copies may overrun.
    let maxLineBytes: Int

    /// Arenas end with this many spare bytes, and the writer makes this much extra room, for
    /// `ByteCursor.writePadded`'s 16-byte copies.
    static let padding = 16

    /// Longest exemplar: ` # {trace_id="<32>",span_id="<16>"} <value> <seconds>.<millis>`.
    static let maxExemplarBytes = 14 + 32 + 11 + 16 + 3 + ByteFormat.maxDoubleLength + 1 + ByteFormat.maxDecimalLength + 4

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

        var bounds: [UInt8] = []
        func boundRanges(openMetrics: Bool) -> [ArenaRange] {
            (upperBounds + [.infinity]).map { bound in
                let start = bounds.count
                bounds.appendUTF8(canonicalBucketBound(bound, openMetrics: openMetrics))
                bounds.appendASCII("\"} ")
                return ArenaRange(start: Int32(start), count: Int32(bounds.count - start))
            }
        }
        if type == .histogram {
            textBounds = boundRanges(openMetrics: false)
            openMetricsBounds = boundRanges(openMetrics: true)
        } else {
            textBounds = []
            openMetricsBounds = []
        }
        bounds.append(contentsOf: repeatElement(0, count: FamilySnapshot.padding))
        self.bounds = bounds

        var arena: [UInt8] = []
        arena.reserveCapacity(series.reduce(0) {
            $0 + $1.textPrefix.count + $1.openMetricsPrefix.count + $1.bucketPrefix.count + $1.sumPrefix.count + $1.countPrefix.count
        })
        func add(_ bytes: [UInt8]) -> ArenaRange {
            let start = arena.count
            arena.append(contentsOf: bytes)
            return ArenaRange(start: Int32(start), count: Int32(bytes.count))
        }
        var rows: [Row] = []
        rows.reserveCapacity(series.count)
        var longestPrefix = 0
        for entry in series {
            if type == .histogram {
                rows.append(Row(value: RowValue(entry.value), text: add(entry.bucketPrefix), openMetrics: .empty,
                                sum: add(entry.sumPrefix), count: add(entry.countPrefix)))
                longestPrefix = max(longestPrefix, entry.bucketPrefix.count, entry.sumPrefix.count, entry.countPrefix.count)
            } else {
                let text = add(entry.textPrefix)
                let om = entry.openMetricsPrefix == entry.textPrefix ? text : add(entry.openMetricsPrefix)
                rows.append(Row(value: RowValue(entry.value), text: text, openMetrics: om, sum: .empty, count: .empty))
                longestPrefix = max(longestPrefix, entry.textPrefix.count, entry.openMetricsPrefix.count)
            }
        }
        self.rows = rows
        arena.append(contentsOf: repeatElement(0, count: FamilySnapshot.padding))
        prefixes = arena

        let longestBound = (textBounds + openMetricsBounds).map { Int($0.count) }.max() ?? 0
        maxLineBytes = longestPrefix + longestBound + ByteFormat.maxDoubleLength + 1 + FamilySnapshot.padding
    }
}
