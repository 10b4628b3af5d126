import TelemetryCore

/// Number rendering for the Prometheus text and OpenMetrics formats.
extension Array where Element == UInt8 {
    /// Appends a sample value (see `ByteCursor.writeSampleValue`): `NaN`, `+Inf`, `-Inf`,
    /// integral values below 1e15 as integers, others as their shortest round-trip
    /// `description` (`0.25`, `1e-05`, `1.5e+20`). Never allocates beyond the array's growth.
    @inline(__always)
    mutating func appendSampleValue(_ value: Double) {
        appendRaw(maxCount: ByteFormat.maxDoubleLength) { $0.writeSampleValue(value) }
    }

    /// Appends a Unix timestamp in seconds with millisecond precision (`1520879607.789`).
    mutating func appendTimestampSeconds(unixNanoseconds: UInt64) {
        appendRaw(maxCount: ByteFormat.maxDecimalLength + 4) { $0.writeTimestampSeconds(unixNanoseconds: unixNanoseconds) }
    }

    /// Appends a label value escaped per the exposition formats: `\` → `\\`, `"` → `\"`,
    /// line feed → `\n`.
    mutating func appendEscapedLabelValue(_ value: String) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): appendASCII("\\\\")
            case UInt8(ascii: "\""): appendASCII("\\\"")
            case UInt8(ascii: "\n"): appendASCII("\\n")
            default: append(byte)
            }
        }
    }

    /// Appends HELP text. Prometheus 0.0.4 escapes only `\` and line feed; OpenMetrics also `"`.
    mutating func appendEscapedHelp(_ help: String, openMetrics: Bool) {
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): appendASCII("\\\\")
            case UInt8(ascii: "\n"): appendASCII("\\n")
            case UInt8(ascii: "\"") where openMetrics: appendASCII("\\\"")
            default: append(byte)
            }
        }
    }
}

/// Formats bucket bounds the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, which is
/// what Prometheus clients emit for `le` (`0.005`, `1`, `1e-05`, `1e+06`). With
/// `openMetrics`, a `.0` is appended to integers: the OpenMetrics "canonical number" form
/// (`1.0`, `100000.0`). Only used when a histogram family is created.
func canonicalBucketBound(_ value: Double, openMetrics: Bool) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == 0 { return openMetrics ? "0.0" : "0" }

    // Shortest round-trip digits from Swift, re-laid out in Go's %g style.
    let text = value.magnitude.description
    var mantissa = Substring(text)
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = text[..<e]
        exponent = Int(text[text.index(after: e)...]) ?? 0  // Int parses "+06" and "-05"
    }
    var digits: [Character] = []
    var pointPosition = 0  // value = 0.d1d2d3… × 10^pointPosition
    var seenPoint = false
    for c in mantissa {
        if c == "." { seenPoint = true; continue }
        digits.append(c)
        if !seenPoint { pointPosition += 1 }
    }
    while digits.first == "0" { digits.removeFirst(); pointPosition -= 1 }
    while digits.last == "0" { digits.removeLast() }
    pointPosition += exponent

    var out = value < 0 ? "-" : ""
    let decimalExponent = pointPosition - 1
    if decimalExponent < -4 || decimalExponent >= 6 {
        // %e: d.ddde±XX
        out.append(digits[0])
        if digits.count > 1 {
            out += "."
            out += String(digits[1...])
        }
        out += decimalExponent < 0 ? "e-" : "e+"
        let magnitude = abs(decimalExponent)
        if magnitude < 10 { out += "0" }
        out += String(magnitude)
        return out
    }
    // %f with exactly the shortest digits.
    if pointPosition <= 0 {
        out += "0." + String(repeating: "0", count: -pointPosition) + String(digits)
    } else if pointPosition >= digits.count {
        out += String(digits) + String(repeating: "0", count: pointPosition - digits.count)
        if openMetrics { out += ".0" }
    } else {
        out += String(digits[..<pointPosition]) + "." + String(digits[pointPosition...])
    }
    return out
}
