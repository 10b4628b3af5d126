import Foundation
import Synchronization
import Testing
@testable import Logging
import Telemetry

/// Collects what a `LogLineWriter` writes.
final class CapturedOutput: Sendable {
    let bytes = Mutex<[UInt8]>([])
    var lines: [String] {
        bytes.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
    }
    func makeWriter(capacity: Int = 1024) -> LogLineWriter {
        LogLineWriter(capacity: capacity) { chunk in self.bytes.withLock { $0.append(contentsOf: chunk) } }
    }
}

@Suite struct LoggingTests {
    func parse(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func jsonLinesParseAndCarryTraceIDsFromTheMetadataProvider() throws {
        let output = CapturedOutput()
        let writer = output.makeWriter()
        var logger = Logger(label: "http", handler: JSONLogHandler(label: "http", metadataProvider: .traceContext, writer: writer))
        logger[metadataKey: "model.name"] = "digits"
        let tracer = Tracer(sampler: .alwaysOn, processor: nil)
        let span = tracer.startSpan("request", context: .topLevel)
        ServiceContext.withValue(span.context) {
            logger.info("request completed", metadata: [
                "http.status": "200",
                "batch": ["size": "4", "trigger": "full"],
                "members": ["a", "b"],
                "msg": "collides",
                "weird": "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} ls\u{2028} ✓",
            ])
        }
        logger.debug("not written at info level")
        logger.warning("outside any span")
        #expect(writer.flush(timeout: .seconds(5)))
        let lines = output.lines
        #expect(lines.count == 2)

        let first = try parse(lines[0])
        #expect(first["level"] as? String == "info")
        #expect(first["logger"] as? String == "http")
        #expect(first["msg"] as? String == "request completed")
        #expect(first["trace_id"] as? String == span.traceContext.traceID.description)
        #expect(first["span_id"] as? String == span.traceContext.spanID.description)
        #expect(first["model.name"] as? String == "digits")
        #expect(first["batch.size"] as? String == "4")
        #expect(first["batch.trigger"] as? String == "full")
        #expect(first["members"] as? [String] == ["a", "b"])
        #expect(first["meta.msg"] as? String == "collides")
        #expect(first["weird"] as? String == "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} ls\u{2028} ✓")
        #expect(!lines[0].contains("\u{2028}"))  // escaped as \u2028
        let ts = try #require(first["ts"] as? String)
        #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil)
        #expect(lines[0].hasPrefix("{\"ts\":\"\(ts)\",\"level\":\"info\",\"logger\":\"http\",\"msg\":\"request completed\",\"trace_id\":"))

        let second = try parse(lines[1])
        #expect(second["level"] as? String == "warning")
        #expect(second["trace_id"] == nil)
    }

    @Test func providerWorksOnPlainThreadsAndInTasks() async throws {
        let tracer = Tracer(sampler: .alwaysOff, processor: nil)
        let span = tracer.startSpan("unsampled but propagated", context: .topLevel)
        let provider = Logger.MetadataProvider.traceContext
        // A plain thread: bound explicitly, visible to everything called inside.
        let fromThread = Mutex<Logger.Metadata>([:])
        let thread = Thread {
            ServiceContext.withValue(span.context) { fromThread.withLock { $0 = provider.get() } }
        }
        thread.start()
        while fromThread.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
        #expect(fromThread.withLock { $0["trace_id"] } == .string(span.traceContext.traceID.description))
        // A child task inherits the binding.
        let fromTask = await ServiceContext.withValue(span.context) {
            await Task { provider.get() }.value
        }
        #expect(fromTask["span_id"] == .string(span.traceContext.spanID.description))
        #expect(provider.get().isEmpty)
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        var out: [UInt8] = []
        out.appendRFC3339Milliseconds(unixNanoseconds: 1_796_396_645_123_456_789)
        #expect(String(decoding: out, as: UTF8.self) == "2026-12-04T15:04:05.123Z")
        out.removeAll()
        out.appendRFC3339Milliseconds(unixNanoseconds: 951_868_799_999_999_999)
        #expect(String(decoding: out, as: UTF8.self) == "2000-02-29T23:59:59.999Z")
        out.removeAll()
        out.appendRFC3339Milliseconds(unixNanoseconds: 0)
        #expect(String(decoding: out, as: UTF8.self) == "1970-01-01T00:00:00.000Z")
    }

    @Test func linesCrossingBufferGrowthArriveWholeAndInOrder() throws {
        let received = Mutex<[UInt8]>([])
        let writer = LogLineWriter(capacity: 100_000, maxBufferedBytes: 64 << 20) { chunk in
            received.withLock { $0.append(contentsOf: chunk) }
        }
        var expected: [UInt8] = []
        for i in 0..<6_000 {  // ~3 MB: the pending buffer grows past its first 64 KiB and 1 MiB
            let line = Array("line \(i) \(String(repeating: "x", count: i % 900))\n".utf8)
            expected += line
            if i.isMultiple(of: 2) {
                #expect(writer.write(line))
            } else {
                // A generous bound reserves room only: the line is exactly its bytes.
                #expect(writer.write(maxCount: line.count * 6) { out in line.withUnsafeBufferPointer { out.write($0) } })
            }
        }
        #expect(writer.flush(timeout: .seconds(10)))
        #expect(received.withLock { $0 } == expected)
        #expect(writer.writtenLines == 6_000 && writer.droppedLines == 0)
    }

    @Test func fullBufferDropsAndCountsLines() throws {
        let release = Mutex(false)
        let written = Mutex(0)
        let writer = LogLineWriter(capacity: 4) { chunk in
            while !release.withLock({ $0 }) { usleep(1000) }  // a stuck stdout
            written.withLock { $0 += chunk.count(where: { $0 == UInt8(ascii: "\n") }) }
        }
        let total = 50
        var accepted = 0
        for i in 0..<total {
            // Both ways in: a finished line, and one written straight into the buffer.
            let line = Array("line \(i)\n".utf8)
            let queued = i.isMultiple(of: 2) ? writer.write(line)
                : writer.write(maxCount: line.count + 8) { out in line.withUnsafeBufferPointer { out.write($0) } }
            if queued { accepted += 1 }
        }
        // The writer thread holds at most one drained chunk while stuck; the rest must be dropped.
        #expect(writer.droppedLines >= total - 4 - 4)
        #expect(accepted + writer.droppedLines == total)
        release.withLock { $0 = true }
        #expect(writer.flush(timeout: .seconds(5)))
        #expect(written.withLock { $0 } == accepted)
        #expect(writer.writtenLines == accepted)
        let registry = MetricsRegistry()
        registry.registerTelemetryMetrics(logWriter: writer, spanProcessor: nil)
        #expect(registry.render().contains("pd_log_lines_dropped_total \(writer.droppedLines)\n"))
    }

    @Test func textHandlerFormat() {
        let output = CapturedOutput()
        let writer = output.makeWriter()
        let logger = Logger(label: "batcher", handler: TextLogHandler(label: "batcher", metadataProvider: nil, writer: writer))
        logger.error("batch failed", metadata: ["model.name": "digits", "reason": "out of memory"])
        #expect(writer.flush())
        let line = output.lines.first ?? ""
        #expect(line.wholeMatch(of: /\S+Z error batcher: batch failed model.name=digits reason="out of memory"/) != nil)
    }

    @Test func bootstrapUsesProvider() {
        #expect(Logger.Level(environmentValue: "WARN") == .warning)
        #expect(Logger.Level(environmentValue: "debug") == .debug)
        #expect(Logger.Level(environmentValue: "loud") == nil)
        #expect(LogFormat(environmentValue: " JSON ") == .json)
        #expect(LogFormat(environmentValue: "xml") == nil)
        let provider = Logger.MetadataProvider.multiplex([
            .init { ["a": "1", "b": "1"] }, .init { ["b": "2"] },
        ])
        #expect(provider?.get() == ["a": "1", "b": "2"])
    }
}
