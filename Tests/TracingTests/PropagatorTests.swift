import Testing
import TelemetryCore
import Tracing

/// `W3CTraceContextPropagator` over `TraceContext` (whose parsing `TraceContextTests` covers).
@Suite struct PropagatorTests {
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func propagatorRoundTrip() throws {
        let headers = ["traceparent": valid, "tracestate": "congo=t61rcWkgMzE"]
        let propagator = W3CTraceContextPropagator()
        let extracted = try #require(propagator.extract { headers[$0] })
        var injected: [String: String] = [:]
        propagator.inject(extracted) { injected[$0] = $1 }
        #expect(injected == headers)
        #expect(propagator.extract { _ in nil } == nil)
        #expect(propagator.extract { $0 == "traceparent" ? "garbage" : nil } == nil)
        #expect(throws: TraceParentError(.invalidVersion)) {
            _ = try propagator.extractOrThrow { $0 == "traceparent" ? "garbage" : nil }
        }
    }
}
