#if canImport(Glibc)
import Glibc
#endif

/// The `Date` header line (`Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`, RFC 9110 §5.6.7), rebuilt at most
/// once a second. Each event loop owns one, so no locking and no formatter per response.
struct DateCache {
    private(set) var line: [UInt8] = []
    private var second = Int.min

    /// Refreshes the line if the wall-clock second changed.
    mutating func update() {
        update(now: Int(time(nil)))
    }

    mutating func update(now: Int) {
        guard now != second else { return }
        second = now
        line.removeAll(keepingCapacity: true)
        line.append(contentsOf: "Date: ".utf8)
        DateCache.appendIMFFixdate(now, to: &line)
        line.append(.cr)
        line.append(.lf)
    }

    private static let days: [[UInt8]] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].map { Array($0.utf8) }
    private static let months: [[UInt8]] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .map { Array($0.utf8) }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
    static func appendIMFFixdate(_ seconds: Int, to out: inout [UInt8]) {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        out.append(contentsOf: days[Int(parts.tm_wday) % 7])
        out.append(contentsOf: ", ".utf8)
        appendTwoDigits(Int(parts.tm_mday), to: &out)
        out.append(.space)
        out.append(contentsOf: months[Int(parts.tm_mon) % 12])
        out.append(.space)
        let year = Int(parts.tm_year) + 1900
        appendTwoDigits(year / 100, to: &out)
        appendTwoDigits(year % 100, to: &out)
        out.append(.space)
        appendTwoDigits(Int(parts.tm_hour), to: &out)
        out.append(.colon)
        appendTwoDigits(Int(parts.tm_min), to: &out)
        out.append(.colon)
        appendTwoDigits(Int(parts.tm_sec), to: &out)
        out.append(contentsOf: " GMT".utf8)
    }

    private static func appendTwoDigits(_ value: Int, to out: inout [UInt8]) {
        let v = max(0, value) % 100
        out.append(UInt8(0x30 + v / 10))
        out.append(UInt8(0x30 + v % 10))
    }
}
