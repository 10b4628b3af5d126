#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TelemetryCore

/// Takes finished log lines from any thread and writes them from one background thread, so
/// logging never blocks a request on a slow or full stdout. The buffer is bounded (lines
/// and bytes); when it is full, new lines are dropped and counted in `droppedLines`.
public final class LogLineWriter: Sendable {
    /// The writer behind the JSON and text handlers: file descriptor 1.
    public static let standardOutput = LogLineWriter(fileDescriptor: 1)

    private struct State: ~Copyable {
        /// Whole lines, back to back: a line is copied in, so its buffer is freed by the
        /// thread that made it, and the writer thread swaps the whole chunk out at once.
        var pending = ByteBuffer(capacity: LogLineWriter.chunkCapacity)
        var pendingLines = 0
        var accepted = 0
        var completed = 0
        var writerIdle = true
    }

    public let capacity: Int
    public let maxBufferedBytes: Int
    private let sink: @Sendable (UnsafeRawBufferPointer) -> Void
    private let state = Mutex(State())
    private let wakeUp = Semaphore()
    private let dropped = Atomic<Int>(0)
    private let written = Atomic<Int>(0)

    /// Writes to a file descriptor (`write(2)`, retried on partial writes and EINTR).
    public convenience init(capacity: Int = 16_384, maxBufferedBytes: Int = 8 << 20, fileDescriptor: Int32) {
        self.init(capacity: capacity, maxBufferedBytes: maxBufferedBytes) { bytes in
            LogLineWriter.writeAll(bytes, to: fileDescriptor)
        }
    }

    /// Hands each drained chunk (whole lines, concatenated) to `sink` on the writer thread.
    public init(capacity: Int = 16_384, maxBufferedBytes: Int = 8 << 20,
                sink: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        precondition(capacity > 0 && maxBufferedBytes > 0)
        self.capacity = capacity
        self.maxBufferedBytes = maxBufferedBytes
        self.sink = sink
        spawnDetachedThread(name: "pd-log-writer") { [self] in run() }
    }

    /// Lines dropped because the buffer was full (for `pd_log_lines_dropped_total`).
    public var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Lines handed to the sink.
    public var writtenLines: Int { written.load(ordering: .relaxed) }

    /// Queues one line (which should end in `\n`). Returns false if it was dropped.
    @discardableResult
    public func write(_ line: [UInt8]) -> Bool {
        let signal: Bool? = state.withLock { state in
            guard state.pendingLines < capacity, state.pending.count + line.count <= maxBufferedBytes else { return nil }
            state.pending.append(line)
            return accept(&state)
        }
        return finishWrite(signal)
    }

    /// Counts a line just added to `pending`; true when the writer thread must be woken.
    private func accept(_ state: inout State) -> Bool {
        state.pendingLines += 1
        state.accepted += 1
        guard state.writerIdle else { return false }
        state.writerIdle = false
        return true
    }

    /// Counts a dropped line (`signal` nil) or wakes the writer thread when `accept` asked for it.
    private func finishWrite(_ signal: Bool?) -> Bool {
        guard let signal else {
            dropped.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        if signal { wakeUp.signal() }
        return true
    }

    /// Queues one line that `body` writes straight into the buffer (ending in `\n`), at most
    /// `maxCount` bytes, so the line needs no array of its own. `maxCount` only reserves room
    /// (nothing is filled or trimmed), so a generous bound costs nothing; a line is dropped
    /// when the buffer could exceed `maxBufferedBytes` by it. `body` runs under the writer's
    /// lock: it should only format. Returns false if the line was dropped (`body` not called).
    @discardableResult
    package func write(maxCount: Int, _ body: (inout ByteCursor) -> Void) -> Bool {
        let signal: Bool? = state.withLock { state in
            guard state.pendingLines < capacity, state.pending.count + maxCount <= maxBufferedBytes else { return nil }
            state.pending.appendRaw(maxCount: maxCount, body)
            return accept(&state)
        }
        return finishWrite(signal)
    }

    /// Waits until every line accepted before the call has been written (for shutdown).
    /// Returns false on timeout.
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) -> Bool {
        let target = state.withLock { $0.accepted }
        let deadline = SystemClock.monotonicNanoseconds() &+ timeout.nanosecondsClamped
        while state.withLock({ $0.completed }) < target {
            if SystemClock.monotonicNanoseconds() >= deadline { return false }
            wakeUp.signal()
            sleepNanoseconds(500_000)
        }
        return true
    }

    private func run() {
        var chunk = ByteBuffer(capacity: LogLineWriter.chunkCapacity)
        while true {
            wakeUp.wait()
            // Let lines gather for a moment so a busy server pays one wake-up and one write per
            // few milliseconds, not per line. While lines keep coming the thread stays
            // awake on this timer, so writers never need to signal it (a system call each).
            while true {
                sleepNanoseconds(LogLineWriter.gatherNanoseconds)
                // Swap the pending chunk with the emptied previous one, keeping both capacities.
                let lines: Int = state.withLock { state in
                    if state.pendingLines == 0 {
                        state.writerIdle = true
                        return 0
                    }
                    swap(&state.pending, &chunk)
                    defer { state.pendingLines = 0 }
                    return state.pendingLines
                }
                guard lines > 0 else { break }
                sink(chunk.bytes)
                written.wrappingAdd(lines, ordering: .relaxed)
                state.withLock { $0.completed += lines }
                chunk.removeAll(keeping: 1 << 20)
            }
        }
    }

    /// First capacity of the pending chunk and of the one being written (each grows as needed
    /// and keeps up to 1 MiB between writes).
    static let chunkCapacity = 64 << 10

    /// How long lines gather before a write.
    static let gatherNanoseconds: UInt64 = 5_000_000

    static func writeAll(_ raw: UnsafeRawBufferPointer, to fd: Int32) {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 100)
            } else {
                return  // closed or broken stdout: nothing more can be done from here
            }
        }
    }
}
