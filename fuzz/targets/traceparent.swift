// libFuzzer target: W3C `traceparent`/`tracestate` parsing (TelemetryCore).
// Input: a `traceparent` value, optionally followed by a NUL byte and a `tracestate` value.
// Checks: a value that parses re-serialises to a canonical `traceparent` that parses to the same
// context; an accepted `tracestate` re-serialises to a list that parses to the same entries.

import Telemetry

/// Keeps the optimiser from deleting the work (libFuzzer calls the entry point from one thread).
nonisolated(unsafe) public var fuzzSink = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceContext(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let parent = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<split]), as: UTF8.self)
    let state: String? = split < size
        ? String(decoding: UnsafeBufferPointer(rebasing: bytes[(split + 1)...]), as: UTF8.self) : nil

    if let parsedState = state.flatMap({ try? TraceState(parsing: $0) }) {
        let again = try? TraceState(parsing: parsedState.description)
        require(again == parsedState, "tracestate does not round-trip: \(parsedState.description)")
        fuzzSink &+= parsedState.entries.count
    }
    do {
        let context = try TraceContext(traceparent: parent, tracestate: state)
        let header = context.traceparent
        require(header.utf8.count == 55, "traceparent output is not 55 bytes: \(header)")
        let reparsed = try TraceContext(traceparent: header, tracestate: context.tracestate)
        require(reparsed.traceID == context.traceID && reparsed.spanID == context.spanID
                     && reparsed.flags == context.flags && reparsed.traceState == context.traceState,
                     "traceparent does not round-trip: \(header)")
        fuzzSink &+= Int(truncatingIfNeeded: context.traceID.low)
    } catch {
        fuzzSink &+= error.description.utf8.count
    }
    let extracted = W3CTraceContextPropagator().extract { name in
        name == W3CTraceContextPropagator.traceparentHeader ? parent : state
    }
    fuzzSink &+= extracted == nil ? 0 : 1
    return 0
}

/// Like `precondition`, but the message survives -O (libFuzzer then prints it with the crash).
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
