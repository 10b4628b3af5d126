import Synchronization
import Testing
import TelemetryCore
@testable import Tracing

@Suite struct LazySpanTests {
    @Test func detailsAreBuiltOnlyForSampledSpans() {
        let exporter = InMemorySpanExporter()
        let calls = Mutex(0)
        for (sampler, expectCall) in [(Sampler.alwaysOn, true), (.alwaysOff, false)] {
            let tracer = Tracer(sampler: sampler, processor: SimpleSpanProcessor(exporter: exporter))
            let span = tracer.startSpan(context: .topLevel, ofKind: .server) {
                calls.withLock { $0 += 1 }
                return ("GET /x", ["http.route": "/x"])
            }
            #expect(span.isRecording == expectCall)
            #expect(span.traceContext.traceID.isValid && span.traceContext.spanID.isValid)
            #expect(span.operationName == (expectCall ? "GET /x" : ""))
            span.end()
        }
        #expect(calls.withLock { $0 } == 1)
        let exported = exporter.spans
        #expect(exported.count == 1)
        #expect(exported.first?.name == "GET /x")
        #expect(exported.first?.attributes["http.route"] == .string("/x"))
        #expect(exported.first?.kind == .server)
    }

    @Test func attributeLimitsStillApply() {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .alwaysOn, processor: SimpleSpanProcessor(exporter: exporter),
                            limits: SpanLimits(maxAttributes: 2, maxLinks: 1))
        let parent = TraceContext(traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), flags: .sampled)
        let span = tracer.startSpan("s", context: .topLevel, attributes: ["a": 1, "b": 2, "c": 3],
                                    links: [SpanLink(parent), SpanLink(parent)])
        span.setAttribute("a", 10)  // replacing an existing key is always allowed
        span.setAttribute("d", 4)   // a new key over the limit is dropped
        span.end()
        let data = exporter.spans.first
        #expect(data?.attributes.count == 2)
        #expect(data?.attributes["a"] == .int(10))
        #expect(data?.attributes["d"] == nil)
        #expect(data?.droppedAttributesCount == 2)
        #expect(data?.links.count == 1)
        #expect(data?.droppedLinksCount == 1)
    }
}
