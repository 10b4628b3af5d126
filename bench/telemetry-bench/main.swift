// telemetry-bench: cost of the hand-written telemetry (Sources/TelemetryCore, Logging, Metrics, Tracing, Telemetry).
//
// Usage:
//   telemetry-bench render [--scenario counters|histograms|histograms-no-exemplars|mixed|all] [--format F] [--iterations 200] [--warmup 20] [--dump DIR]
//     --format prometheus|openmetrics renders one format only (default: both)
//     --series N sets the number of series of the counters and histograms scenarios (default 10000)
//     --dump DIR writes each scenario's exposition to DIR/<scenario>.<format>.txt (for comparing builds)
//   telemetry-bench hotpath [--iterations 2000000] [--only OP-SUBSTRING]
//   telemetry-bench chain [--iterations 200000] [--only OP-SUBSTRING]
//   telemetry-bench export [--batches 400] [--only OP-SUBSTRING]
//
// Output: one JSON object per line on stdout.
//   render:  {"scenario":"histograms","format":"openmetrics","series":10000,"families":1,"sample_lines":160000,
//             "exemplars":40000,"bytes":13450000,"median_ms":4.1,"p99_ms":4.9,"min_ms":3.9,"cpu_median_ms":4.0,"iterations":200}
//     A series is one label set of one family (a histogram child counts once); sample_lines are the lines
//     that carry a value (a histogram child with 13 finite buckets writes 14 `_bucket` lines, `_sum`
//     and `_count`, i.e. 16). Every iteration renders the whole registry into one reused buffer, as
//     `MetricsEndpoint` does; the first (unmeasured) render builds the sorted snapshot.
//   hotpath: {"op":"counter.increment","ns_per_op":2.1} for the per-request operations (thread CPU
//     time): counter and histogram updates, a server span started and ended (sampled into a
//     processor that drops it, and unsampled), a finished span recorded in one call, and the access
//     log line through the Metadata API and through Logger.Fields into a JSONLogHandler whose writer
//     discards.
//   chain: {"op":"chain.infer.all.sampled","ns_per_op":2770.9,"added_ns":2301.9}: a request through the
//     service's middleware (access log, metrics, tracing; each alone and all together) to a handler
//     that answers at once, on the infer route and on /healthz; added_ns is the cost over no middleware.
//   export: {"op":"export.encode.protobuf","ns_per_span":150.2,"bytes_per_span":215.1,"spans":512}: the spans of
//     infer requests as the service records them (a server span, its queue and execute spans; per batch of
//     8 an `inference.batch` span linked to its members and its three steps), in batches of 512 (the
//     default OTEL_BSP_MAX_EXPORT_BATCH_SIZE), encoded as the batch processor does (each span appended to
//     the batch as it ends, then the request's frame), in each encoding; and the cost of freeing spans.
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import Telemetry
import TelemetryCore

func fail(_ message: String) -> Never {
    let line = "telemetry-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func emit(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

func seconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func fixed(_ v: Double, _ digits: Int = 3) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((v * scale).rounded())
    let sign = scaled < 0 ? "-" : ""
    let whole = scaled.magnitude / UInt64(scale)
    var fraction = String(scaled.magnitude % UInt64(scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// Deterministic pseudo-random numbers (xorshift64).
struct Noise {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// A latency as the service records one (whole nanoseconds in seconds): log-uniform
    /// between 0.5 ms and 4 s.
    mutating func latency() -> Double { (500_000 * pow(8000, unit())).rounded() / 1e9 }
}

struct Scenario {
    let name: String
    let registry: MetricsRegistry
    let series: Int
    let families: Int
    let exemplars: Int
}

/// `count` (10,000) counter series in one family (`pd_inference_requests_total{model,version,outcome}`).
func counterScenario(_ count: Int) -> Scenario {
    let registry = MetricsRegistry()
    var noise = Noise()
    for i in 0..<count {
        Counter(label: "pd_inference_requests_total",
                dimensions: [("model", "model-\(i % 100)"), ("version", "\(i / 100)"), ("outcome", "success")],
                registry: registry).increment(by: Int(noise.next() % 1_000_000))
    }
    return Scenario(name: "counters", registry: registry, series: count, families: 1, exemplars: 0)
}

/// `count` (10,000) children of one histogram family with the default 13 latency buckets, 20
/// observations each, every fourth observation with a trace exemplar (OpenMetrics writes them).
func histogramScenario(_ count: Int, exemplars: Bool = true) -> Scenario {
    let registry = MetricsRegistry()
    var noise = Noise()
    var exemplarBuckets = 0
    for i in 0..<count {
        let h = Histogram(label: "pd_inference_request_duration_seconds",
                          dimensions: [("model", "model-\(i % 100)"), ("version", "\(i / 100)")], registry: registry)
        var withExemplar = Set<Int>()
        for j in 0..<20 {
            let value = noise.latency()
            if exemplars && j % 4 == 0 {
                h.observe(value, exemplar: (TraceID.random(), SpanID.random()))
                withExemplar.insert(Histogram.defaultBuckets.firstIndex { value <= $0 } ?? Histogram.defaultBuckets.count)
            } else {
                h.observe(value)
            }
        }
        exemplarBuckets += withExemplar.count
    }
    return Scenario(name: exemplars ? "histograms" : "histograms-no-exemplars", registry: registry, series: count,
                    families: 1, exemplars: exemplarBuckets)
}

/// The service's own families for 576 model versions (ARCHITECTURE.md §6) plus HTTP series,
/// telemetry self-metrics, build info and the process collector: ~10,000 series, a quarter of
/// them histograms.
func mixedScenario() -> Scenario {
    let registry = MetricsRegistry()
    var noise = Noise()
    var series = 0
    var exemplars = 0
    let models = 576
    for m in 0..<models {
        let dims = [("model", "model-\(m / 4)"), ("version", "\(m % 4 + 1)")]
        for outcome in ["success", "invalid", "rejected", "timeout", "cancelled", "error"] {
            let c = Counter(label: "pd_inference_requests_total", dimensions: dims + [("outcome", outcome)], registry: registry)
            c.increment(by: outcome == "success" ? Int(noise.next() % 10_000_000) : Int(noise.next() % 100))
            series += 1
        }
        for trigger in ["full", "delay", "drain"] {
            Counter(label: "pd_inference_batches_total", dimensions: dims + [("trigger", trigger)], registry: registry)
                .increment(by: Int(noise.next() % 1_000_000))
            series += 1
        }
        for name in ["pd_inference_request_duration_seconds", "pd_inference_queue_duration_seconds",
                     "pd_inference_compute_duration_seconds"] {
            let h = Histogram(label: name, dimensions: dims, registry: registry)
            for j in 0..<50 {
                if j == 0 {
                    h.observe(noise.latency(), exemplar: (TraceID.random(), SpanID.random()))
                    exemplars += 1
                } else {
                    h.observe(noise.latency())
                }
            }
            series += 1
        }
        let sizes = Histogram(label: "pd_inference_batch_size", dimensions: dims,
                              buckets: Histogram.exponentialBuckets(start: 1, factor: 2, count: 7), registry: registry)
        for _ in 0..<50 { sizes.observe(Double(1 + noise.next() % 64)) }
        series += 1
        for name in ["pd_inference_queue_depth", "pd_inference_queue_capacity", "pd_inference_batches_in_flight", "pd_model_ready"] {
            Gauge(label: name, dimensions: dims, registry: registry).set(Double(noise.next() % 256))
            series += 1
        }
    }
    let routes = ["/v2/models/{model}/infer", "/v2/models/{model}/ready", "/v2/models/{model}", "/healthz", "/readyz",
                  "/livez", "/metrics", "/v2/health/live", "/v2/health/ready", "/v2", "unmatched"]
    for route in routes {
        for method in ["GET", "POST"] {
            for code in ["200", "400", "404", "413", "429", "500", "503", "504"] {
                Counter(label: "pd_http_requests_total", dimensions: [("method", method), ("route", route), ("code", code)],
                        registry: registry).increment(by: Int(noise.next() % 100_000))
                series += 1
            }
            let h = Histogram(label: "pd_http_request_duration_seconds", dimensions: [("method", method), ("route", route)],
                              registry: registry)
            for _ in 0..<50 { h.observe(noise.latency()) }
            series += 1
        }
    }
    let writer = LogLineWriter(sink: { _ in })
    registry.registerTelemetryMetrics(logWriter: writer, spanProcessor: nil)
    registry.registerCallback(label: "pd_http_connections_open", help: "Client connections open now.") { 64 }
    registry.registerCallback(label: "pd_build_info", dimensions: [("version", "1.0.0"), ("revision", "abc1234")],
                              help: "Build of the running binary; always 1.") { 1 }
    registry.register(collector: ProcessCollector())
    series += 6 + 2 + 7  // telemetry callbacks, connections and build info, process collector
    return Scenario(name: "mixed", registry: registry, series: series, families: 0, exemplars: exemplars)
}

func render(_ scenario: Scenario, iterations: Int, warmup: Int, dump: String?, formats: [ExpositionFormat]) {
    for format in formats {
        var buffer: [UInt8] = []
        if let dump {
            let path = "\(dump)/\(scenario.name).\(format == .openMetrics ? "openmetrics" : "prometheus").txt"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            scenario.registry.render(format, into: &buffer)
            _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        for _ in 0..<max(1, warmup) {
            buffer.removeAll(keepingCapacity: true)
            scenario.registry.render(format, into: &buffer)
        }
        var wall: [Double] = []
        var cpu: [Double] = []
        for _ in 0..<iterations {
            buffer.removeAll(keepingCapacity: true)
            let w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID)
            scenario.registry.render(format, into: &buffer)
            let c1 = seconds(CLOCK_THREAD_CPUTIME_ID), w1 = seconds(CLOCK_MONOTONIC)
            wall.append((w1 - w0) * 1000)
            cpu.append((c1 - c0) * 1000)
        }
        wall.sort()
        cpu.sort()
        var sampleLines = 0
        var families = 0
        var exemplars = 0
        for line in buffer.split(separator: UInt8(ascii: "\n")) {
            if line.first == UInt8(ascii: "#") {
                if line.starts(with: Array("# TYPE".utf8)) { families += 1 }
            } else {
                sampleLines += 1
                if line.contains(UInt8(ascii: "#")) { exemplars += 1 }
            }
        }
        let name = format == .openMetrics ? "openmetrics" : "prometheus-0.0.4"
        emit("{\"scenario\":\"\(scenario.name)\",\"format\":\"\(name)\",\"series\":\(scenario.series),\"families\":\(families),"
            + "\"sample_lines\":\(sampleLines),\"exemplars\":\(exemplars),\"bytes\":\(buffer.count),"
            + "\"median_ms\":\(fixed(percentile(wall, 0.5))),\"p99_ms\":\(fixed(percentile(wall, 0.99))),"
            + "\"min_ms\":\(fixed(wall[0])),\"cpu_median_ms\":\(fixed(percentile(cpu, 0.5))),\"iterations\":\(iterations)}")
    }
}

// MARK: hot path

/// Runs `body` `n` times and returns nanoseconds per call (thread CPU time).
@inline(never)
func measure(_ n: Int, _ body: (Int) -> Void) -> Double {
    guard n > 0 else { return 0 }
    let c0 = seconds(CLOCK_THREAD_CPUTIME_ID)
    for i in 0..<n { body(i) }
    return (seconds(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / Double(n)
}

func report(_ op: String, _ ns: Double) {
    guard ns > 0 else { return }
    emit("{\"op\":\"\(op)\",\"ns_per_op\":\(fixed(ns, 1))}")
}

final class DiscardingProcessor: SpanProcessor {
    func onEnd(_ span: SpanData) {}
    func forceFlush(timeout: Duration) -> Bool { true }
    func shutdown(timeout: Duration) -> Bool { true }
}

func hotPath(iterations: Int, only: String?) {
    /// Iterations for `op`: zero when `--only` names another.
    func count(_ op: String, _ n: Int) -> Int { only.map { op.contains($0) } ?? true ? n : 0 }
    let n = iterations
    let registry = MetricsRegistry()
    let counter = Counter(label: "c_total", dimensions: [("a", "b")], registry: registry)
    let histogram = Histogram(label: "h_seconds", dimensions: [("a", "b")], registry: registry)
    report("counter.increment", measure(count("counter.increment", n)) { _ in counter.increment() })
    report("histogram.observe", measure(count("histogram.observe", n)) { i in histogram.observe(Double(i & 1023) * 1e-4) })
    let sampled = Tracer(sampler: .alwaysOn, processor: DiscardingProcessor())
    let unsampled = Tracer(sampler: .alwaysOff, processor: nil)
    let parent = ServiceContext(traceContext: TraceContext(traceID: TraceID.random(), spanID: SpanID.random(),
                                                           flags: .sampled, isRemote: true))
    // As TracingMiddleware does: name and attributes built only for a sampled span.
    let method = "POST", route = "/v2/models/{model}/infer"
    for (name, tracer) in [("sampled", sampled), ("unsampled", unsampled)] {
        report("span.start+end.\(name)", measure(count("span.start+end.\(name)", n / 4)) { _ in
            let span = tracer.startSpan(context: parent, ofKind: .server) {
                ("\(method) \(route)", ["http.request.method": .string(method), "http.route": .string(route),
                                         "url.path": "/v2/models/mlp/infer", "server.port": .int(8000)])
            }
            if span.isRecording { span.setAttribute("http.response.status_code", .int(200)) }
            span.end()
        })
        // As the middleware did before: name and attributes built for every span.
        report("span.start+end.\(name).eager", measure(count("span.start+end.\(name).eager", n / 4)) { _ in
            let span = tracer.startSpan("\(method) \(route)", context: parent, ofKind: .server, attributes: [
                "http.request.method": .string(method), "http.route": .string(route),
                "url.path": "/v2/models/mlp/infer", "server.port": .int(8000),
            ])
            span.setAttribute("http.response.status_code", .int(200))
            span.end()
        })
    }
    // A span already over (the queue wait, a batch step), recorded in one call.
    report("span.record.sampled", measure(count("span.record.sampled", n / 4)) { i in
        sampled.recordSpan("inference.execute", parent: parent.traceContext, start: UInt64(i), end: UInt64(i) + 1_000,
                           attributes: ["inference.batch.id": .int(i), "inference.batch.size": .int(8)])
    })
    // The access log line through the swift-log shaped API, into a writer that discards.
    let writer = LogLineWriter(capacity: 1 << 20, maxBufferedBytes: 1 << 30, sink: { _ in })
    let logger = Logger(label: "http", handler: JSONLogHandler(label: "http", metadataProvider: .traceContext, writer: writer))
    let span = sampled.startSpan("request", context: .topLevel)
    ServiceContext.withValue(span.context) {
        report("log.access-line.metadata", measure(count("log.access-line.metadata", n / 8)) { i in
            logger.log(level: .info, "request completed", metadata: [
                "http.request.method": .string("POST"),
                "http.route": .string("/v2/models/{model}/infer"),
                "http.response.status_code": .stringConvertible(200),
                "http.duration_ms": .stringConvertible(Double(i % 5000) / 1000),
                "http.response.body.size": .stringConvertible(96),
                "request.id": .string("9f3c01ab-1f"),
                "model.name": .string("mlp"),
            ])
        })
        report("log.access-line.fields", measure(count("log.access-line.fields", n / 8)) { i in
            var fields = Logger.Fields()
            fields.add("http.duration_ms", Double(i % 5000) / 1000)
            fields.add("http.request.method", "POST")
            fields.add("http.response.body.size", 96)
            fields.add("http.response.status_code", 200)
            fields.add("http.route", "/v2/models/{model}/infer")
            fields.add("model.name", "mlp")
            fields.add("request.id", "9f3c01ab-1f")
            logger.log(level: .info, "request completed", fields: fields)
        })
    }
    _ = writer.flush()
}

/// The HTTP middleware chain of the service around a handler that answers at once, as the
/// service assembles it (access log, metrics, tracing), one layer added per line: the
/// per-request cost each layer adds on the request's thread (the work behind it, like writing
/// log lines and exporting spans, runs on other threads and is not counted here).
func chainCost(iterations: Int, only: String?) {
    let registry = MetricsRegistry()
    let writer = LogLineWriter(capacity: 1 << 20, maxBufferedBytes: 1 << 30, sink: { _ in })
    let logger = Logger(label: "http", handler: JSONLogHandler(label: "http", metadataProvider: .traceContext, writer: writer))
    let quiet: Set<String> = ["/healthz", "/metrics"]
    let unsampled = Tracer(sampler: .alwaysOff, processor: nil)
    let sampled = Tracer(sampler: .alwaysOn, processor: DiscardingProcessor())
    let body = Array(#"{"model_name":"mlp","model_version":"1","outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,10],"data":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]}]}"#.utf8)
    let request = HTTPRequest(method: .POST, path: "/v2/models/mlp/infer",
                              headers: HTTPHeaders([("Host", "127.0.0.1:8000"), ("Content-Type", "application/json"),
                                                    ("Content-Length", "6500")]),
                              body: Array(repeating: 32, count: 6500))
    let configurations: [(String, [any HTTPMiddleware])] = [
        ("none", []),
        ("access-log", [AccessLogMiddleware(logger: logger, quietRoutes: quiet)]),
        ("metrics", [MetricsMiddleware(registry: registry)]),
        ("tracing.unsampled", [TracingMiddleware(tracer: unsampled, untracedRoutes: quiet)]),
        ("tracing.sampled", [TracingMiddleware(tracer: sampled, untracedRoutes: quiet)]),
        ("all.unsampled", [AccessLogMiddleware(logger: logger, quietRoutes: quiet), MetricsMiddleware(registry: registry),
                           TracingMiddleware(tracer: unsampled, untracedRoutes: quiet)]),
        ("all.sampled", [AccessLogMiddleware(logger: logger, quietRoutes: quiet), MetricsMiddleware(registry: registry),
                         TracingMiddleware(tracer: sampled, untracedRoutes: quiet)]),
    ]
    let probe = HTTPRequest(method: .GET, path: "/healthz", headers: HTTPHeaders([("Host", "127.0.0.1:8000")]))
    var baseline: [String: Double] = [:]
    for (name, layers) in configurations {
        let router = Router()
        for layer in layers { router.add(middleware: layer) }
        router.post("/v2/models/{model}/infer") { _, _ in
            HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"], body: body)
        }
        router.get("/healthz") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain; charset=utf-8", body: "ok") }
        // The infer route (logged, traced) and a probe (quiet: logged at debug, not traced).
        for (path, request) in [("infer", request), ("healthz", probe)] {
            let op = "chain.\(path).\(name)"
            guard only.map({ op.contains($0) || name == "none" }) ?? true else { continue }
            let run = { (n: Int) in
                measure(n) { i in
                    router.respond(to: request, context: RequestContext(requestID: "9f3c01ab-\(i & 7)",
                                                                        receivedAtNanos: monotonicNanos(),
                                                                        remoteAddress: "127.0.0.1", localPort: 8000)) { _ in }
                }
            }
            _ = run(iterations / 10)  // warm-up: series, caches
            let ns = run(iterations)
            if name == "none" { baseline[path] = ns }
            emit("{\"op\":\"\(op)\",\"ns_per_op\":\(fixed(ns, 1)),\"added_ns\":\(fixed(ns - baseline[path, default: 0], 1))}")
        }
    }
    _ = writer.flush()
}

// MARK: export

/// Single-threaded use only.
final class CollectingProcessor: SpanProcessor, @unchecked Sendable {
    var spans: [SpanData] = []
    func onEnd(_ span: SpanData) { spans.append(span) }
    func forceFlush(timeout: Duration) -> Bool { true }
    func shutdown(timeout: Duration) -> Bool { true }
}

/// One export batch of the spans infer requests leave, recorded the way the service records them.
func inferSpans(count: Int) -> [SpanData] {
    let collector = CollectingProcessor()
    let tracer = Tracer(sampler: .alwaysOn, processor: collector)
    var t: UInt64 = 1_764_900_000_000_000_000
    var batchID = 0
    while collector.spans.count < count {
        batchID += 1
        var members: [SpanLink] = []
        var servers: [Span] = []
        for _ in 0..<8 {
            let span = tracer.startSpan(context: .topLevel, ofKind: .server) {
                ("POST /v2/models/{model}/infer",
                 ["http.request.method": "POST", "http.route": "/v2/models/{model}/infer", "url.path": "/v2/models/mlp/infer",
                  "server.port": .int(8000), "user_agent.original": "python-requests/2.32.3"])
            }
            members.append(SpanLink(span.traceContext))
            servers.append(span)
        }
        let batch = tracer.startSpan("inference.batch", context: .topLevel, attributes: [
            "inference.model.name": "mlp", "inference.model.version": "1", "inference.batch.id": .int(batchID),
            "inference.batch.trigger": "size", "inference.batch.requests": 8, "inference.batch.size": 8,
        ])
        batch.addLinks(members)
        for step in ["batch.assemble", "model.run", "batch.scatter"] {
            tracer.recordSpan(step, parent: batch.traceContext, start: t, end: t + 20_000)
        }
        batch.end()
        for span in servers {
            span.setAttribute("http.response.status_code", .int(200))
            span.end()
        }
        let queues = tracer.recordSpans("inference.queue", parents: servers.map(\.traceContext),
                                        starts: Array(repeating: t, count: servers.count), end: t + 900_000)
        tracer.recordSpans("inference.execute", parents: queues, starts: Array(repeating: t + 900_000, count: queues.count),
                           end: t + 1_200_000,
                           attributes: ["inference.batch.id": .int(batchID), "inference.model.name": "mlp", "inference.model.version": "1"],
                           links: [SpanLink(batch.traceContext)])
        t += 1_500_000
    }
    return Array(collector.spans.prefix(count))
}

func exportCost(batches: Int, only: String?) {
    let size = 512
    let resource = Resource(attributes: ["service.name": "pd-inference", "service.version": "0.1.0", "host.name": "pd-inference-7c9d"])
    let scope = InstrumentationScope(name: "pd-inference", version: "0.1.0")
    let rounds = min(batches, 100)  // batches of fresh spans, each used once
    // As the batch processor does: each span, owned by the thread that ended it, appended to the
    // batch's buffer (reused) and freed; then the frame written around them for the request.
    func run(_ name: String, append: (consuming SpanData, inout ByteBuffer) -> Void, frame: (Int) -> Int) {
        guard only.map({ "export.encode.\(name)".contains($0) }) ?? true else { return }
        var buffer = ByteBuffer(capacity: 256 * size)
        var bytes = 0
        var pending: [[SpanData]] = []
        let encodeBatch = { (i: Int) in
            buffer.removeAll(keeping: Int.max)
            var batch: [SpanData] = []
            swap(&batch, &pending[i])
            while let span = batch.popLast() { append(span, &buffer) }
            bytes = buffer.count + frame(buffer.count)
        }
        pending = (0..<max(1, rounds / 10)).map { _ in inferSpans(count: size) }
        _ = measure(pending.count, encodeBatch)  // warm-up
        pending = (0..<rounds).map { _ in inferSpans(count: size) }
        let ns = measure(rounds, encodeBatch)
        emit("{\"op\":\"export.encode.\(name)\",\"ns_per_span\":\(fixed(ns / Double(size), 1)),"
            + "\"bytes_per_span\":\(fixed(Double(bytes) / Double(size), 1)),\"spans\":\(size)}")
    }
    run("protobuf", append: { OTLPProtobufEncoder.appendSpan($0, to: &$1) }) {
        OTLPProtobufEncoder.envelope(resource: resource, scope: scope, spanBytes: $0).count
    }
    run("json", append: { OTLPJSONEncoder.appendSpan($0, to: &$1) }) { _ in
        let (head, tail) = OTLPJSONEncoder.envelope(resource: resource, scope: scope)
        return head.count + tail.count
    }
    guard only.map({ "export.free".contains($0) }) ?? true else { return }
    // Freeing an exported batch alone: fresh copies, each the only owner of its spans' storage.
    var pending = (0..<rounds).map { _ in inferSpans(count: size) }
    let ns = measure(pending.count) { i in pending[i] = [] }
    emit("{\"op\":\"export.free\",\"ns_per_span\":\(fixed(ns / Double(size), 1)),\"spans\":\(size)}")
}

// MARK: main

let arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first else { fail("usage: telemetry-bench render|hotpath|chain|export [options]") }
func option(_ name: String, in args: [String] = arguments) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
switch mode {
case "render":
    let iterations = Int(option("--iterations") ?? "200") ?? 200
    let warmup = Int(option("--warmup") ?? "20") ?? 20
    let which = option("--scenario") ?? "all"
    let series = Int(option("--series") ?? "10000") ?? 10_000
    let makers: [(String, () -> Scenario)] = [("counters", { counterScenario(series) }),
                                              ("histograms", { histogramScenario(series) }),
                                              ("histograms-no-exemplars", { histogramScenario(series, exemplars: false) }),
                                              ("mixed", mixedScenario)]
    for (name, make) in makers where which == name || (which == "all" && name != "histograms-no-exemplars") {
        let formats: [ExpositionFormat] = switch option("--format") {
        case "prometheus": [.prometheusText]
        case "openmetrics": [.openMetrics]
        default: [.prometheusText, .openMetrics]
        }
        render(make(), iterations: iterations, warmup: warmup, dump: option("--dump"), formats: formats)
    }
case "hotpath":
    hotPath(iterations: Int(option("--iterations") ?? "2000000") ?? 2_000_000, only: option("--only"))
case "export":
    exportCost(batches: Int(option("--batches") ?? "400") ?? 400, only: option("--only"))
case "chain":
    chainCost(iterations: Int(option("--iterations") ?? "200000") ?? 200_000, only: option("--only"))
default:
    fail("unknown mode '\(mode)'")
}
