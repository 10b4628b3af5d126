import Synchronization
import Telemetry

/// Collects what a `LogLineWriter` writes (the same helper as in LoggingTests).
final class CapturedOutput: Sendable {
    let bytes = Mutex<[UInt8]>([])
    var lines: [String] {
        bytes.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
    }
    func makeWriter(capacity: Int = 1024) -> LogLineWriter {
        LogLineWriter(capacity: capacity) { chunk in self.bytes.withLock { $0.append(contentsOf: chunk) } }
    }
}
