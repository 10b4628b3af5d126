import Dispatch
import Foundation
import Synchronization
import Telemetry
import Testing
@testable import InferenceServer

/// Metrics, trace propagation and batch spans of the running service, over real sockets.
@Suite(.serialized) struct ObservabilityTests {
    static let body = #"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#

    static func traceparent(_ i: Int) -> (traceID: String, header: String) {
        let trace = String(format: "%032x", 0xabc000 + i)
        return (trace, "00-\(trace)-\(String(format: "%016x", 0x1000 + i))-01")
    }

    @Test func metricsExposeTheCatalogueAfterTraffic() throws {
        let app = try makeApplication(backend: AffineBackend()) { $0.telemetryEnabled = true; $0.otelTracesExporter = "none" }
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        #expect(try c.request("POST", "/v2/models/affine/infer", json: Self.body).status == 200)
        #expect(try c.request("POST", "/v2/models/affine/infer", json: #"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#).status == 422)
        // The batch is counted by its worker after the responses went out: scrape until it is.
        let counted = #"pd_inference_batches_total{model="affine",trigger="delay",version="1"} 1"#
        var r = try c.request("GET", "/metrics")
        let deadline = ContinuousClock.now + .seconds(10)
        while !r.text.contains(counted) && ContinuousClock.now < deadline {
            try Task.checkCancellation()
            usleep(10_000)
            r = try c.request("GET", "/metrics")
        }
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = r.text
        for family in ["pd_inference_requests_total", "pd_inference_request_duration_seconds", "pd_inference_queue_duration_seconds",
                       "pd_inference_compute_duration_seconds", "pd_inference_batch_size", "pd_inference_batches_total",
                       "pd_inference_queue_depth", "pd_inference_queue_capacity", "pd_inference_batches_in_flight", "pd_model_ready",
                       "pd_http_requests_total", "pd_http_request_duration_seconds", "pd_http_connections_open",
                       "pd_http_buffered_bytes", "pd_http_buffered_bytes_limit", "pd_http_read_pauses_total",
                       "pd_trace_spans_exported_total", "pd_trace_spans_dropped_total", "pd_build_info",
                       "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                       "process_open_fds", "process_max_fds", "process_start_time_seconds"] {
            #expect(text.contains("# TYPE \(family) "), "missing family \(family)")
        }
        #expect(text.contains(#"pd_inference_requests_total{model="affine",outcome="success",version="1"} 1"#))
        #expect(text.contains(#"pd_inference_requests_total{model="affine",outcome="invalid",version="1"} 1"#))
        #expect(text.contains(#"pd_inference_requests_total{model="affine",outcome="timeout",version="1"} 0"#), "series exist before use")
        #expect(text.contains(#"pd_model_ready{model="broken",version="1"} 0"#))
        #expect(text.contains("pd_http_buffered_bytes_limit \(app.settings.maxBufferedBytes)\n"))
        #expect(text.contains("pd_http_read_pauses_total 0\n"))
        #expect(text.contains(#"pd_http_requests_total{code="422",method="POST",route="/v2/models/{model}/infer"} 1"#))
        #expect(text.contains(counted))

        let open = try c.request("GET", "/metrics", headers: [("Accept", "application/openmetrics-text; version=1.0.0"), ("Accept-Encoding", "gzip")])
        #expect(open.header("Content-Type")?.hasPrefix("application/openmetrics-text") == true)
        #expect(open.header("Content-Encoding") == "gzip")
        let inflated = String(decoding: try Gzip.decompress(open.body), as: UTF8.self)
        #expect(inflated.hasSuffix("# EOF\n"))
    }

    /// The queue depth and batches in flight are read from the batcher when scraped.
    @Test func queueDepthAndBatchesInFlightAreReadAtScrapeTime() throws {
        let gate = DispatchSemaphore(value: 0)
        let app = try makeApplication(backend: AffineBackend(gate: gate), maxBatchSize: 1) {
            $0.telemetryEnabled = true; $0.otelTracesExporter = "none"; $0.workerThreads = 1; $0.maxBatchSize = 1
        }
        defer { _ = app.shutdown() }
        let port = app.server.localPort
        let group = DispatchGroup()
        for _ in 0..<3 {
            DispatchQueue.global().async(group: group) {
                _ = try? TestClient(port: port).request("POST", "/v2/models/affine/infer", json: Self.body)
            }
        }
        let c = try TestClient(port: port)
        let busy = [#"pd_inference_queue_depth{model="affine",version="1"} 2"#,
                    #"pd_inference_batches_in_flight{model="affine",version="1"} 1"#]
        var text = ""
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {
            usleep(10_000)
            text = try c.request("GET", "/metrics").text
        } while !busy.allSatisfy(text.contains) && ContinuousClock.now < deadline
        for line in busy { #expect(text.contains(line), "\(line)") }
        #expect(text.contains(#"pd_inference_queue_depth{model="broken",version="1"} 0"#), "a model without a batcher")
        for _ in 0..<3 { gate.signal() }
        #expect(group.wait(timeout: .now() + 10) == .success)
        // The worker counts its batch out after answering it: scrape until it has.
        let idle = [#"pd_inference_queue_depth{model="affine",version="1"} 0"#,
                    #"pd_inference_batches_in_flight{model="affine",version="1"} 0"#]
        repeat {
            text = try c.request("GET", "/metrics").text
            if idle.allSatisfy(text.contains) { break }
            usleep(10_000)
        } while ContinuousClock.now < deadline + .seconds(10)
        for line in idle { #expect(text.contains(line), "\(line)") }
    }

    @Test func responsesCarryTheCallersTraceAndExemplarsPointAtIt() throws {
        let app = try makeApplication(backend: AffineBackend()) { $0.telemetryEnabled = true; $0.otelTracesExporter = "none" }
        defer { _ = app.shutdown() }
        let c = try TestClient(port: app.server.localPort)
        let (trace, header) = Self.traceparent(7)
        let r = try c.request("POST", "/v2/models/affine/infer", json: Self.body, headers: [("traceparent", header)])
        #expect(r.status == 200)
        let back = r.header("traceparent") ?? ""
        #expect(back.hasPrefix("00-\(trace)-"), "\(back)")
        #expect(!back.contains("0000000000001007"), "a new span id, not the caller's")
        let metrics = try c.request("GET", "/metrics", headers: [("Accept", "application/openmetrics-text")]).text
        #expect(metrics.contains(#"trace_id="\#(trace)""#), "exemplar from the sampled request")
        // An invalid header starts a new trace and does not fail the request.
        let bad = try c.request("POST", "/v2/models/affine/infer", json: Self.body, headers: [("traceparent", "00-XYZ-01")])
        #expect(bad.status == 200)
        #expect(bad.header("traceparent")?.count == 55)
        #expect(bad.header("traceparent")?.contains(trace) == false)
    }

    @Test func aBatchSpanLinksEveryMemberRequestAndRequestTracesNest() throws {
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .milliseconds(50)))
        let tracing = TracingSetup(tracer: Tracer(sampler: .parentBased(root: .alwaysOn), processor: processor), processor: processor)
        let gate = DispatchSemaphore(value: 0)
        let backend = AffineBackend(gate: gate)
        let app = try makeApplication(backend: backend, tracing: tracing) {
            $0.telemetryEnabled = true; $0.maxBatchSize = 8; $0.maxQueueDelayMs = 10_000; $0.workerThreads = 1
        }
        defer { _ = app.shutdown() }
        let port = app.server.localPort
        let statuses = Mutex<[Int]>([])
        let group = DispatchGroup()
        for i in 0..<8 {
            DispatchQueue.global().async(group: group) {
                let status = (try? TestClient(port: port).request("POST", "/v2/models/affine/infer", json: Self.body,
                                                                    headers: [("traceparent", Self.traceparent(i).header)]).status) ?? -1
                statuses.withLock { $0.append(status) }
            }
        }
        gate.signal()
        #expect(group.wait(timeout: .now() + 20) == .success)
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 8))
        #expect(backend.runs.withLock { $0 } == [8], "all eight requests in one batch")
        _ = processor.forceFlush(timeout: .seconds(5))
        let spans = exporter.spans
        let batches = spans.filter { $0.name == "inference.batch" }
        #expect(batches.count == 1)
        guard let batch = batches.first else { return }
        let linked = Set(batch.links.map { $0.context.traceID.description })
        #expect(linked == Set((0..<8).map { Self.traceparent($0).traceID }))
        let childSpans = spans.filter { $0.parentSpanID == batch.context.spanID }
        #expect(childSpans.map(\.name).sorted() == ["batch.assemble", "batch.scatter", "model.run"])
        // Times are converted from the monotonic clock per span (a few ns apart): 1 µs of slack.
        let slack: UInt64 = 1_000
        for child in childSpans {
            #expect(child.startTimeUnixNano + slack >= batch.startTimeUnixNano && child.endTimeUnixNano <= batch.endTimeUnixNano + slack,
                    "\(child.name) within its batch")
        }
        for i in 0..<8 {
            let trace = Self.traceparent(i).traceID
            let mine = spans.filter { $0.context.traceID.description == trace }
            guard let server = mine.first(where: { $0.name == "POST /v2/models/{model}/infer" }),
                  let queue = mine.first(where: { $0.name == "inference.queue" }),
                  let execute = mine.first(where: { $0.name == "inference.execute" }) else {
                Issue.record("trace \(i) lacks a span: \(mine.map(\.name))")
                continue
            }
            #expect(server.parentSpanID?.description == String(format: "%016x", 0x1000 + i))
            #expect(queue.parentSpanID == server.context.spanID)
            #expect(execute.parentSpanID == queue.context.spanID)
            #expect(execute.links.map(\.context.spanID) == [batch.context.spanID])
            #expect(execute.attributes.map(\.key) == ["inference.batch.id", "inference.model.name", "inference.model.version"])
            #expect(execute.attributes["inference.model.name"] == batch.attributes["inference.model.name"])
            #expect(execute.attributes["inference.model.version"] == batch.attributes["inference.model.version"])
            #expect(execute.attributes["inference.batch.id"] == batch.attributes["inference.batch.id"])
            #expect(execute.startTimeUnixNano.distance(to: batch.startTimeUnixNano).magnitude <= slack, "execute starts with its batch")
            #expect(server.attributes["http.response.status_code"] == .int(200))
            #expect(server.attributes["http.route"] == .string("/v2/models/{model}/infer"))
        }
    }
}
