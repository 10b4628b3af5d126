import Foundation
import Synchronization
import Testing
import TelemetryCore
@testable import Tracing

/// An exporter that blocks until released, to fill the processor's queue.
final class GateExporter: SpanExporter {
    let open = Mutex(false)
    let received = Mutex<[SpanData]>([])
    func export(_ batch: [SpanData]) -> SpanExportResult {
        while !open.withLock({ $0 }) { usleep(1000) }
        received.withLock { $0.append(contentsOf: batch) }
        return .success
    }
}

/// Records the size of every batch it is given.
final class BatchSizeRecorder: SpanExporter {
    let sizes = Mutex<[Int]>([])
    func export(_ batch: [SpanData]) -> SpanExportResult {
        sizes.withLock { $0.append(batch.count) }
        return .success
    }
}

@Suite struct TracerTests {
    func context(sampled: Bool, remote: Bool, low: UInt64 = 1) -> TraceContext {
        TraceContext(traceID: TraceID(high: 1, low: low), spanID: SpanID(7), flags: sampled ? .sampled : [], isRemote: remote)
    }

    @Test func traceIDRatioUsesTheLow56Bits() {
        let half = Sampler.traceIDRatio(0.5)
        #expect(half.shouldSample(parent: nil, traceID: TraceID(high: 0, low: 1 << 55)))
        #expect(!half.shouldSample(parent: nil, traceID: TraceID(high: .max, low: (1 << 55) - 1)))
        // The top byte of the low half is not part of the randomness.
        #expect(!half.shouldSample(parent: nil, traceID: TraceID(high: 0, low: 0xFF00_0000_0000_0001)))
        #expect(Sampler.traceIDRatio(1).shouldSample(parent: nil, traceID: TraceID(high: 0, low: 1)))
        #expect(!Sampler.traceIDRatio(0).shouldSample(parent: nil, traceID: TraceID(high: 0, low: Sampler.randomnessMask)))
        // Ignores the parent's flag.
        #expect(!half.shouldSample(parent: context(sampled: true, remote: true), traceID: TraceID(high: 0, low: 1)))

        var sampled = 0
        var sampledAtLowerRatio = 0
        for _ in 0..<20_000 {
            let id = TraceID.random()
            let atQuarter = Sampler.traceIDRatio(0.25).shouldSample(parent: nil, traceID: id)
            if atQuarter { sampled += 1 }
            if Sampler.traceIDRatio(0.1).shouldSample(parent: nil, traceID: id) {
                sampledAtLowerRatio += 1
                #expect(atQuarter)  // a higher ratio samples a superset
            }
        }
        #expect(abs(Double(sampled) / 20_000 - 0.25) < 0.02)
        #expect(abs(Double(sampledAtLowerRatio) / 20_000 - 0.1) < 0.015)
    }

    @Test func parentBasedHonoursTheParentsFlag() {
        let sampler = Sampler.parentBased(root: .alwaysOff)
        let id = TraceID(high: 1, low: 1)
        #expect(!sampler.shouldSample(parent: nil, traceID: id))
        #expect(sampler.shouldSample(parent: context(sampled: true, remote: true), traceID: id))
        #expect(!sampler.shouldSample(parent: context(sampled: false, remote: true), traceID: id))
        #expect(sampler.shouldSample(parent: context(sampled: true, remote: false), traceID: id))
        let onRoot = Sampler.parentBased(root: .alwaysOn)
        #expect(onRoot.shouldSample(parent: nil, traceID: id))
        #expect(!onRoot.shouldSample(parent: context(sampled: false, remote: false), traceID: id))
        let custom = Sampler.parentBased(root: .alwaysOff, remoteParentNotSampled: .alwaysOn)
        #expect(custom.shouldSample(parent: context(sampled: false, remote: true), traceID: id))
        #expect(Sampler.alwaysOn.description == "AlwaysOnSampler")
        #expect(Sampler.traceIDRatio(0.25).description == "TraceIdRatioBased{0.25}")
    }

    @Test func samplerFromEnvironment() {
        #expect(Sampler(environmentName: "always_off", argument: nil) == .alwaysOff)
        #expect(Sampler(environmentName: "traceidratio", argument: "0.1") == .traceIDRatio(0.1))
        #expect(Sampler(environmentName: "parentbased_traceidratio", argument: nil) == .parentBased(root: .traceIDRatio(1)))
        #expect(Sampler(environmentName: "parentbased_always_on", argument: nil) == .parentBased(root: .alwaysOn))
        #expect(Sampler(environmentName: "traceidratio", argument: "2") == nil)
        #expect(Sampler(environmentName: "jaeger_remote", argument: nil) == nil)
    }

    @Test func spansFormATreeAndUnsampledSpansPropagateButAreNotExported() throws {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .parentBased(root: .alwaysOn), processor: SimpleSpanProcessor(exporter: exporter))
        let incoming = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                        tracestate: "congo=t61rcWkgMzE")
        let server = tracer.startSpan("POST /v2/models/{model}/infer", context: ServiceContext(traceContext: incoming),
                                      ofKind: .server, attributes: ["http.request.method": "POST"])
        let child = tracer.withSpan("inference.queue", context: server.context) { span in
            span.setAttribute("queue.depth", 3)
            #expect(ServiceContext.current?.span === span)
            return span
        }
        server.setStatus(.ok)
        server.setStatus(.error(message: "ignored after ok"))
        server.end()
        server.end()  // only the first end counts
        let spans = exporter.spans
        #expect(spans.count == 2)
        #expect(spans[0].name == "inference.queue")
        #expect(spans[0].parentSpanID == server.traceContext.spanID)
        #expect(!spans[0].parentIsRemote)
        #expect(spans[1].parentSpanID?.description == "00f067aa0ba902b7")
        #expect(spans[1].parentIsRemote)
        #expect(spans[1].status == .ok)
        #expect(spans[1].context.traceState["congo"] == "t61rcWkgMzE")
        #expect(child.traceContext.traceID.description == "4bf92f3577b34da6a3ce929d0e0e4736")

        // An unsampled parent: ids still flow, nothing is exported.
        let unsampledParent = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        let quiet: Span = tracer.startSpan("quiet", context: ServiceContext(traceContext: unsampledParent))  // Telemetry.Span shadows Swift.Span
        #expect(!quiet.isRecording)
        #expect(quiet.traceContext.traceID == unsampledParent.traceID)
        #expect(quiet.traceContext.spanID != unsampledParent.spanID)
        #expect(quiet.traceContext.traceparent.hasSuffix("-00"))
        quiet.setAttribute("ignored", true)
        quiet.end()
        #expect(exporter.spans.count == 2)

        // No context: a new root trace.
        let root = tracer.startSpan("root", context: .topLevel)
        #expect(root.parentSpanID == nil)
        #expect(root.traceContext.traceID != unsampledParent.traceID)
        #expect(root.traceContext.flags == [.sampled, .random])
    }

    @Test func startSpanIfRecordingAllocatesASpanOnlyWhenSampled() throws {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .parentBased(root: .alwaysOn), processor: SimpleSpanProcessor(exporter: exporter))
        var detailsCalls = 0
        let details = { () -> (operationName: String, attributes: SpanAttributes) in
            detailsCalls += 1
            return ("GET /x", ["http.route": "/x"])
        }
        let sampledParent = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                             tracestate: "congo=t61rcWkgMzE")
        let (trace, span) = tracer.startSpanIfRecording(context: ServiceContext(traceContext: sampledParent),
                                                        ofKind: .server, details: details)
        let recorded = try #require(span)
        #expect(recorded.isRecording && recorded.traceContext == trace && detailsCalls == 1)
        #expect(trace.traceID == sampledParent.traceID && trace.spanID != sampledParent.spanID && trace.isSampled)
        #expect(trace.traceState["congo"] == "t61rcWkgMzE")
        recorded.end()
        #expect(exporter.spans.map(\.name) == ["GET /x"])
        #expect(exporter.spans.first?.parentSpanID == sampledParent.spanID && exporter.spans.first?.parentIsRemote == true)

        // Unsampled parent: the ids continue its trace, but there is no span and no name is built.
        let unsampledParent = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        let (quietTrace, quiet) = tracer.startSpanIfRecording(context: ServiceContext(traceContext: unsampledParent),
                                                              ofKind: .server, details: details)
        #expect(quiet == nil && detailsCalls == 1)
        #expect(quietTrace.traceID == unsampledParent.traceID && quietTrace.spanID != unsampledParent.spanID)
        #expect(!quietTrace.isSampled && quietTrace.spanID.isValid)

        // No parent: a new trace.
        let (rootTrace, rootSpan) = tracer.startSpanIfRecording(context: nil, details: details)
        #expect(rootSpan != nil && rootTrace.traceID != sampledParent.traceID && rootSpan?.parentSpanID == nil)
    }

    @Test func errorsEventsAndLinks() throws {
        struct ModelError: Error, CustomStringConvertible { var description: String { "queue is full" } }
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .alwaysOn, processor: SimpleSpanProcessor(exporter: exporter))
        let member = tracer.startSpan("request", context: .topLevel)
        let batch = tracer.startSpan("inference.batch", context: .topLevel, links: [SpanLink(member.traceContext)])
        batch.addLink(tracer.startSpan("request 2", context: .topLevel).traceContext, attributes: ["member": 2])
        batch.addEvent("assembled", attributes: ["batch.size": 2])
        #expect(throws: ModelError.self) {
            try tracer.withSpan("model.run", context: batch.context) { _ in throw ModelError() }
        }
        batch.end()
        let run = try #require(exporter.spans.first { $0.name == "model.run" })
        #expect(run.status == .error(message: "queue is full"))
        let exception = try #require(run.events.first)
        #expect(exception.name == "exception")
        #expect(exception.attributes["exception.message"] == .string("queue is full"))
        #expect(exception.attributes["exception.type"] == .string(String(reflecting: ModelError.self)))
        let batchData = try #require(exporter.spans.first { $0.name == "inference.batch" })
        #expect(batchData.links.count == 2)
        #expect(batchData.links[0].context.traceID == member.traceContext.traceID)
        #expect(batchData.events.map(\.name) == ["assembled"])
    }

    @Test func limitsCountDroppedData() {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .alwaysOn, processor: SimpleSpanProcessor(exporter: exporter),
                            limits: SpanLimits(maxAttributes: 2, maxEvents: 1, maxLinks: 1))
        let span = tracer.startSpan("s", context: .topLevel, attributes: ["a": 1, "b": 2, "c": 3])
        span.setAttribute("a", 10)  // replacing an existing key is always allowed
        span.addEvent("e1")
        span.addEvent("e2")
        let linked = (1...3).map { SpanLink(TraceContext(traceID: TraceID(high: 0, low: UInt64($0)), spanID: SpanID(UInt64($0)))) }
        span.addLinks(linked)
        span.end()
        span.addLinks(linked)  // after the end: ignored
        let data = exporter.spans[0]
        #expect(data.attributes.count == 2)
        #expect(data.attributes["a"] == .int(10))
        #expect(data.droppedAttributesCount == 1)
        #expect(data.droppedEventsCount == 1)
        #expect(data.links.map(\.context.traceID) == [linked[0].context.traceID])
        #expect(data.droppedLinksCount == 2)
    }

    /// `appendNewAttribute` (no search for the key) keeps to the same limit as `setAttribute`, and
    /// does nothing once the span has ended or when it is not recording.
    @Test func appendedAttributesKeepTheLimit() {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .alwaysOn, processor: SimpleSpanProcessor(exporter: exporter),
                            limits: SpanLimits(maxAttributes: 3))
        let span = tracer.startSpan("s", context: .topLevel, attributes: ["a": 1])
        span.appendNewAttribute("b", "two")
        span.appendNewAttribute("c", 3)
        span.appendNewAttribute("d", 4)  // past the limit: dropped and counted
        span.end()
        span.appendNewAttribute("e", 5)  // after the end: ignored
        let data = exporter.spans[0]
        #expect(data.attributes.map(\.key) == ["a", "b", "c"])
        #expect(data.attributes["b"] == .string("two") && data.attributes["c"] == .int(3))
        #expect(data.droppedAttributesCount == 1)
        let unsampled = Tracer(sampler: .alwaysOff, processor: SimpleSpanProcessor(exporter: exporter))
            .startSpan("u", context: .topLevel)
        unsampled.appendNewAttribute("a", 1)
        #expect(unsampled.attributes.isEmpty)
    }

    @Test func recordedSpansCarryTheirParentTimesAndLimits() throws {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .parentBased(root: .alwaysOn), processor: SimpleSpanProcessor(exporter: exporter),
                            limits: SpanLimits(maxAttributes: 2, maxEvents: 1, maxLinks: 1))
        let server = tracer.startSpan("server", context: .topLevel, ofKind: .server)
        let other = tracer.startSpan("batch", context: .topLevel)
        let queue = tracer.recordSpan("inference.queue", parent: server.traceContext, start: 1_000, end: 3_000)
        let execute = tracer.recordSpan("inference.execute", parent: queue, start: 3_000, end: 2_000,
                                        attributes: ["a": 1, "b": 2, "c": 3],
                                        links: [SpanLink(other.traceContext), SpanLink(server.traceContext)],
                                        status: .error(message: "model failed"))
        let spans = exporter.spans
        #expect(spans.map(\.name) == ["inference.queue", "inference.execute"])
        #expect(spans[0].parentSpanID == server.traceContext.spanID)
        #expect(spans[0].context == queue)
        #expect(spans[0].context.traceID == server.traceContext.traceID)
        #expect(spans[0].startTimeUnixNano == 1_000 && spans[0].endTimeUnixNano == 3_000)
        #expect(spans[0].kind == .internal && spans[0].status == .unset)
        #expect(spans[1].parentSpanID == queue.spanID)
        #expect(spans[1].context == execute)
        #expect(spans[1].endTimeUnixNano == 3_000)  // never before its start
        #expect(spans[1].attributes.count == 2 && spans[1].droppedAttributesCount == 1)
        #expect(spans[1].links.map(\.context.spanID) == [other.traceContext.spanID] && spans[1].droppedLinksCount == 1)
        #expect(spans[1].status == .error(message: "model failed"))

        // Under an unsampled parent: ids flow on, nothing is exported.
        let unsampled = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        let quiet = tracer.recordSpan("inference.queue", parent: unsampled, start: 1, end: 2)
        #expect(quiet.traceID == unsampled.traceID && quiet.spanID != unsampled.spanID && !quiet.isSampled)
        #expect(exporter.spans.count == 2)
    }

    /// A group's spans are the ones `recordSpan` would record one by one: each under its parent,
    /// from its own start, sharing the rest; a member under an unsampled parent gets ids only.
    @Test func recordedGroupsAreSpansOfTheirMembers() throws {
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .parentBased(root: .alwaysOn), processor: SimpleSpanProcessor(exporter: exporter),
                            limits: SpanLimits(maxAttributes: 1, maxEvents: 1, maxLinks: 1))
        let first = tracer.startSpan("server", context: .topLevel, ofKind: .server)
        let second = tracer.startSpan("server", context: .topLevel, ofKind: .server)
        let batch = tracer.startSpan("batch", context: .topLevel)
        let unsampled = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        let parents = [first.traceContext, unsampled, second.traceContext]
        let contexts = tracer.recordSpans("inference.execute", parents: parents, starts: [1_000, 1_500, 9_000], end: 5_000,
                                          attributes: ["inference.batch.id": 7, "extra": 1],
                                          links: [SpanLink(batch.traceContext), SpanLink(first.traceContext)],
                                          status: .error(message: "model failed"))
        #expect(contexts.count == 3)
        #expect(zip(contexts, parents).allSatisfy { $0.traceID == $1.traceID && $0.spanID != $1.spanID })
        #expect(!contexts[1].isSampled && contexts[0].isSampled && contexts[2].isSampled)
        let spans = exporter.spans
        #expect(spans.map(\.context) == [contexts[0], contexts[2]])
        #expect(spans.map(\.parentSpanID) == [first.traceContext.spanID, second.traceContext.spanID])
        #expect(spans.map(\.startTimeUnixNano) == [1_000, 5_000])  // a start after the end is the end
        for span in spans {
            #expect(span.name == "inference.execute" && span.kind == .internal && span.endTimeUnixNano == 5_000)
            #expect(span.attributes.map(\.key) == ["inference.batch.id"] && span.droppedAttributesCount == 1)
            #expect(span.links.map(\.context) == [batch.traceContext] && span.droppedLinksCount == 1)
            #expect(span.status == .error(message: "model failed"))
        }
    }

    @Test func batchProcessorDropsAndCountsOnOverflow() {
        let exporter = GateExporter()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(
            maxQueueSize: 10, maxExportBatchSize: 5, scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        for i in 0..<40 { tracer.startSpan("s\(i)", context: .topLevel).end() }
        #expect(processor.droppedSpans >= 40 - 10 - 5)
        #expect(processor.queueOverflowSpans == processor.droppedSpans)
        exporter.open.withLock { $0 = true }
        #expect(processor.shutdown(timeout: .seconds(5)))
        #expect(processor.exportedSpans + processor.droppedSpans == 40)
        #expect(exporter.received.withLock { $0.count } == processor.exportedSpans)
        // After shutdown nothing is queued, and it is counted.
        tracer.startSpan("late", context: .topLevel).end()
        #expect(processor.exportedSpans + processor.droppedSpans == 41)
    }

    @Test func batchProcessorFlushesOnShutdownAndOnDemand() {
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        tracer.startSpan("a", context: .topLevel).end()
        #expect(processor.forceFlush(timeout: .seconds(5)))
        #expect(exporter.spans.map(\.name) == ["a"])
        tracer.startSpan("b", context: .topLevel).end()
        tracer.startSpan("c", context: .topLevel).end()
        #expect(processor.shutdown(timeout: .seconds(5)))
        #expect(exporter.spans.map(\.name) == ["a", "b", "c"])
        #expect(exporter.hasShutDown)
        #expect(processor.exportedSpans == 3)
        #expect(processor.droppedSpans == 0)
    }

    /// A full batch goes out at once and whole (not split or merged with what follows); the rest
    /// waits for the timer or a flush, so under load every request to the collector is a full batch.
    @Test func batchProcessorExportsFullBatchesAndLeavesTheRestForTheTimer() async throws {
        let exporter = BatchSizeRecorder()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(
            maxQueueSize: 100, maxExportBatchSize: 4, scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        for i in 0..<10 { tracer.startSpan("s\(i)", context: .topLevel).end() }
        for _ in 0..<200 where exporter.sizes.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(exporter.sizes.withLock { $0 } == [4, 4])
        #expect(processor.queueDepth == 2)
        #expect(processor.forceFlush(timeout: .seconds(5)))
        #expect(exporter.sizes.withLock { $0 } == [4, 4, 2])
        #expect(processor.queueDepth == 0)
        #expect(processor.shutdown(timeout: .seconds(5)))
        #expect(processor.exportedSpans == 10)
    }

    @Test func batchProcessorExportsOnTheTimer() async throws {
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .milliseconds(20)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        tracer.startSpan("timer", context: .topLevel).end()
        for _ in 0..<200 where exporter.spans.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(exporter.spans.count == 1)
        #expect(processor.shutdown(timeout: .seconds(5)))
    }
}
