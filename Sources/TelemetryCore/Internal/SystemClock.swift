#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Wall-clock and monotonic time, read with `clock_gettime` (vDSO, no allocation).
@usableFromInline package enum SystemClock {
    /// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
    @inlinable package static func unixNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Nanoseconds since the Unix epoch from the kernel's last tick (CLOCK_REALTIME_COARSE: a
    /// few milliseconds' resolution, read without the time counter).
    @inlinable package static func coarseUnixNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Unix nanoseconds for an instant of the monotonic clock (see `unixOffset(near:)`).
    package static func unixNanoseconds(monotonic: UInt64) -> UInt64 {
        monotonic &+ unixOffset(near: monotonic)
    }

    /// Unix minus monotonic nanoseconds, read again once `monotonic` is 100 ms past the last
    /// reading: spans timed with monotonic instants get wall-clock times without two clock reads
    /// each (a step of the wall clock shows within 100 ms under load).
    package static func unixOffset(near monotonic: UInt64) -> UInt64 {
        let readAt = offsetReadAt.load(ordering: .relaxed)
        if readAt == 0 || monotonic > readAt &+ 100_000_000 {
            let now = monotonicNanoseconds()
            let offset = unixNanoseconds() &- now
            monotonicToUnix.store(offset, ordering: .relaxed)
            offsetReadAt.store(now, ordering: .relaxed)
            return offset
        }
        return monotonicToUnix.load(ordering: .relaxed)
    }

    /// Unix minus monotonic nanoseconds, and when (monotonic) it was read; 0 before the first read.
    private static let monotonicToUnix = Atomic<UInt64>(0)
    private static let offsetReadAt = Atomic<UInt64>(0)

    /// Nanoseconds on a clock that never steps backwards (CLOCK_MONOTONIC).
    @inlinable package static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to zero and to UInt64.
    package var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (ns, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return ns &+ UInt64(attoseconds / 1_000_000_000)
    }
}

extension Array where Element == UInt8 {
    /// Appends `2026-12-04T15:04:05.123Z` for a Unix time in nanoseconds (UTC, milliseconds).
    @inlinable package mutating func appendRFC3339Milliseconds(unixNanoseconds: UInt64) {
        appendRaw(maxCount: 32) { $0.writeRFC3339Milliseconds(unixNanoseconds: unixNanoseconds) }
    }
}

extension ByteCursor {
    /// `2026-12-04T15:04:05.123Z` for a Unix time in nanoseconds (UTC, milliseconds); 24 bytes
    /// up to the year 9999.
    @inlinable package mutating func writeRFC3339Milliseconds(unixNanoseconds: UInt64) {
        let totalMillis = unixNanoseconds / 1_000_000
        let millis = totalMillis % 1000
        let totalSeconds = Int64(totalMillis / 1000)
        let days = totalSeconds / 86_400
        let secondOfDay = UInt64(totalSeconds % 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        writeDigits(UInt64(year), width: 4)
        write(UInt8(ascii: "-"))
        writeDigits(UInt64(month), width: 2)
        write(UInt8(ascii: "-"))
        writeDigits(UInt64(day), width: 2)
        write(UInt8(ascii: "T"))
        writeDigits(secondOfDay / 3600, width: 2)
        write(UInt8(ascii: ":"))
        writeDigits(secondOfDay / 60 % 60, width: 2)
        write(UInt8(ascii: ":"))
        writeDigits(secondOfDay % 60, width: 2)
        write(UInt8(ascii: "."))
        writeDigits(millis, width: 3)
        write(UInt8(ascii: "Z"))
    }
}

/// Proleptic Gregorian date for a day count relative to 1970-01-01
/// (the "days from civil" inverse, valid for the whole Int64 range used here).
@inlinable func civilDate(daysSinceEpoch: Int64) -> (year: Int, month: Int, day: Int) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (Int(year), Int(month), Int(day))
}
