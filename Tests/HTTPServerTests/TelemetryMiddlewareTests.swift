import Synchronization
import Telemetry
import Testing
@testable import HTTPServer

@Suite("TelemetryMiddleware")
struct TelemetryMiddlewareTests {
    struct Outcome {
        var response: HTTPResponse
        var loggedTraces: [TraceID?]
        var metrics: String
        var spans: [SpanData]
    }

    /// One request through `install`'s middleware, with a caller's `traceparent`.
    func run(route: String = "/v2/models/{model}/ready", path: String = "/v2/models/digits/ready",
             _ install: (Router, AccessLogMiddleware, MetricsMiddleware, TracingMiddleware) -> Void) throws -> Outcome {
        let logs = CapturingLogHandler()
        let registry = MetricsRegistry()
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(sampler: .parentBased(root: .alwaysOn), processor: SimpleSpanProcessor(exporter: exporter))
        let router = Router()
        install(router, AccessLogMiddleware(logger: Logger(label: "http", handler: logs)), MetricsMiddleware(registry: registry),
                TracingMiddleware(tracer: tracer, untracedRoutes: ["/healthz"]))
        router.on(.GET, route) { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "ready") }
        let request = HTTPRequest(method: .GET, path: path,
                                  headers: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
        let got = Mutex<HTTPResponse?>(nil)
        router.respond(to: request, context: RequestContext(requestID: "r", receivedAtNanos: monotonicNanos())) { r in
            got.withLock { $0 = r }
        }
        var text: [UInt8] = []
        registry.render(.prometheusText, into: &text)
        return Outcome(response: try #require(got.withLock { $0 }), loggedTraces: logs.records.withLock { $0.map(\.trace) },
                       metrics: String(decoding: text, as: UTF8.self), spans: exporter.spans)
    }

    @Test func oneMiddlewareDoesWhatTheThreeChainedDo() throws {
        let fused = try run { router, log, metrics, tracing in
            router.add(middleware: TelemetryMiddleware(accessLog: log, metrics: metrics, tracing: tracing))
        }
        let chained = try run { router, log, metrics, tracing in
            router.add(middleware: log)
            router.add(middleware: metrics)
            router.add(middleware: tracing)
        }
        let caller = try #require(TraceID(hexString: "0af7651916cd43dd8448eb211c80319c"))
        for outcome in [fused, chained] {
            #expect(outcome.response.traceContext?.traceID == caller)
            #expect(outcome.loggedTraces == [caller], "the access line is written with the request's trace bound")
            #expect(outcome.metrics.contains(#"pd_http_requests_total{code="200",method="GET",route="/v2/models/{model}/ready"} 1"#))
            #expect(outcome.spans.count == 1)
            #expect(outcome.spans.first?.attributes["http.response.status_code"] == .int(200))
            #expect(outcome.spans.first?.name == "GET /v2/models/{model}/ready")
        }
    }

    @Test func anUntracedRouteGetsItsIdsButNoSpanAndNoBinding() throws {
        let outcome = try run(route: "/healthz", path: "/healthz") { router, log, metrics, tracing in
            router.add(middleware: TelemetryMiddleware(accessLog: log, metrics: metrics, tracing: tracing))
        }
        #expect(outcome.response.traceContext?.traceID.description == "0af7651916cd43dd8448eb211c80319c")
        #expect(outcome.response.traceContext?.isSampled == false)
        #expect(outcome.spans.isEmpty)
        #expect(outcome.loggedTraces == [nil])
        #expect(outcome.metrics.contains(#"pd_http_requests_total{code="200",method="GET",route="/healthz"} 1"#))
    }

    @Test func anyPartMayBeAbsent() throws {
        let metricsOnly = try run { router, _, metrics, _ in router.add(middleware: TelemetryMiddleware(metrics: metrics)) }
        #expect(metricsOnly.response.traceContext == nil)
        #expect(metricsOnly.loggedTraces.isEmpty && metricsOnly.spans.isEmpty)
        #expect(metricsOnly.metrics.contains(#"code="200""#))
        let tracingOnly = try run { router, _, _, tracing in router.add(middleware: TelemetryMiddleware(tracing: tracing)) }
        #expect(tracingOnly.spans.count == 1 && tracingOnly.loggedTraces.isEmpty)
    }
}
