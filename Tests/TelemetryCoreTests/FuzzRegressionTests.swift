import Foundation
import Testing
@testable import TelemetryCore

/// Replays the trace-context fuzzing inputs (fuzz/corpus/traceparent and fuzz/regressions/traceparent)
/// under `swift test`: a `traceparent` [NUL `tracestate`] that parses re-serialises to a value that
/// parses to the same context. A crash found by scripts/fuzz.sh is kept in fuzz/regressions and
/// replayed here.
@Suite struct FuzzRegressionTests {
    @Test func traceparentInputs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var count = 0
        for folder in ["corpus", "regressions"] {
            let directory = root.appendingPathComponent("fuzz/\(folder)/traceparent")
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted() {
                let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
                count += 1
                let split = bytes.firstIndex(of: 0) ?? bytes.count
                let parent = String(decoding: bytes[..<split], as: UTF8.self)
                let state = split < bytes.count ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : nil
                guard let context = try? TraceContext(traceparent: parent, tracestate: state) else { continue }
                let again = try TraceContext(traceparent: context.traceparent, tracestate: context.tracestate)
                #expect(again.traceID == context.traceID && again.spanID == context.spanID && again.flags == context.flags
                        && again.traceState == context.traceState, "\(folder)/\(name)")
            }
        }
        #expect(count >= 5, "fuzz/corpus/traceparent is missing")
    }
}
