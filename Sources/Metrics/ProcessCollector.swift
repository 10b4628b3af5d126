#if canImport(Glibc)
import Glibc
#endif

/// The standard `process_*` metrics, read from `/proc/self` at scrape time with the same
/// meaning as Prometheus' client_golang process collector.
///
///     registry.register(collector: ProcessCollector())
public struct ProcessCollector: MetricsCollector {
    private let ticksPerSecond: Double
    private let pageSize: Double
    private let bootTime: Double?

    public init() {
        ticksPerSecond = Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        pageSize = Double(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        bootTime = ProcessCollector.readBootTime()
    }

    public func collect() -> [CollectedMetricFamily] {
        var families: [CollectedMetricFamily] = []
        if let stat = ProcessCollector.readStat() {
            families.append(.init(name: "process_cpu_seconds_total", type: .counter,
                                  help: "Total user and system CPU time spent in seconds.",
                                  value: Double(stat.utime + stat.stime) / ticksPerSecond))
            families.append(.init(name: "process_resident_memory_bytes", type: .gauge,
                                  help: "Resident memory size in bytes.", value: Double(stat.rssPages) * pageSize))
            families.append(.init(name: "process_virtual_memory_bytes", type: .gauge,
                                  help: "Virtual memory size in bytes.", value: Double(stat.vsizeBytes)))
            if let bootTime {
                families.append(.init(name: "process_start_time_seconds", type: .gauge,
                                      help: "Start time of the process since unix epoch in seconds.",
                                      value: bootTime + Double(stat.startTicks) / ticksPerSecond))
            }
        }
        if let open = ProcessCollector.countOpenFileDescriptors() {
            families.append(.init(name: "process_open_fds", type: .gauge,
                                  help: "Number of open file descriptors.", value: Double(open)))
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            families.append(.init(name: "process_max_fds", type: .gauge,
                                  help: "Maximum number of open file descriptors.", value: Self.limitValue(limit.rlim_cur)))
        }
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 {
            families.append(.init(name: "process_virtual_memory_max_bytes", type: .gauge,
                                  help: "Maximum amount of virtual memory available in bytes.",
                                  value: Self.limitValue(limit.rlim_cur)))
        }
        return families
    }

    // "unlimited" is the all-ones rlim_t, reported as 1.8446744073709552e+19 like client_golang.
    private static func limitValue(_ value: rlim_t) -> Double { Double(value) }

    struct Stat {
        var utime: UInt64
        var stime: UInt64
        var startTicks: UInt64
        var vsizeBytes: UInt64
        var rssPages: Int64
    }

    /// Parses `/proc/self/stat` (proc(5)). The command name is in parentheses and may contain
    /// spaces or parentheses, so fields are counted from the last `)`.
    static func readStat() -> Stat? {
        guard let bytes = readSmallFile("/proc/self/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field n is fields[n - 3].
        func field(_ n: Int) -> Int64? {
            guard n - 3 < fields.count else { return nil }
            return Int64(String(decoding: fields[n - 3], as: UTF8.self))
        }
        guard let utime = field(14), let stime = field(15), let start = field(22),
              let vsize = field(23), let rss = field(24)
        else { return nil }
        return Stat(utime: UInt64(utime), stime: UInt64(stime), startTicks: UInt64(start),
                    vsizeBytes: UInt64(vsize), rssPages: rss)
    }

    static func readBootTime() -> Double? {
        guard let bytes = readSmallFile("/proc/stat") else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return Double(String(decoding: line.dropFirst(6), as: UTF8.self))
        }
        return nil
    }

    static func countOpenFileDescriptors() -> Int? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count
    }

    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }
}
