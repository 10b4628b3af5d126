import Foundation
import Glibc
import Testing
import TelemetryCore
@testable import Tracing

@Suite struct OTLPExporterTests {
    func fixedSpan() throws -> SpanData {
        let traceID = try #require(TraceID(hexString: "5b8efff798038103d269b633813fc60c"))
        let linkedTrace = try #require(TraceID(hexString: "4bf92f3577b34da6a3ce929d0e0e4736"))
        var state = TraceState()
        try state.set("congo", "t61rcWkgMzE")
        return SpanData(
            name: "POST /v2/models/{model}/infer", kind: .server,
            context: TraceContext(traceID: traceID, spanID: SpanID(0xEEE1_9B7E_C3C1_B174), flags: .sampled, traceState: state),
            parentSpanID: SpanID(0xEEE1_9B7E_C3C1_B173), parentIsRemote: true,
            startTimeUnixNano: 1_544_712_660_000_000_000, endTimeUnixNano: 1_544_712_661_000_000_000,
            attributes: ["http.request.method": "POST", "http.response.status_code": 200, "ratio": 0.5, "ok": true,
                         "tags": .stringArray(["a", "b\"c"])],
            events: [SpanEvent(name: "exception", timeUnixNano: 1_544_712_660_500_000_000,
                               attributes: ["exception.message": "line1\nline2"])],
            links: [SpanLink(TraceContext(traceID: linkedTrace, spanID: SpanID(0x00F0_67AA_0BA9_02B7), flags: .sampled, isRemote: true),
                             attributes: ["member": 1])],
            status: .error(message: "model failed"), droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 2)
    }

    @Test func jsonEncodingGolden() throws {
        let resource = Resource(attributes: ["service.name": "pd-inference", "service.version": "1.2.3"])
        let json = String(decoding: OTLPJSONEncoder.encode([try fixedSpan()], resource: resource,
                                                           scope: InstrumentationScope(name: "pd-inference", version: "1.2.3")),
                          as: UTF8.self)
        let expected = #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"pd-inference"}},{"key":"service.version","value":{"stringValue":"1.2.3"}}]},"scopeSpans":[{"scope":{"name":"pd-inference","version":"1.2.3"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","traceState":"congo=t61rcWkgMzE","parentSpanId":"eee19b7ec3c1b173","flags":769,"name":"POST /v2/models/{model}/infer","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"http.request.method","value":{"stringValue":"POST"}},{"key":"http.response.status_code","value":{"intValue":"200"}},{"key":"ratio","value":{"doubleValue":0.5}},{"key":"ok","value":{"boolValue":true}},{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b\"c"}]}}}],"events":[{"timeUnixNano":"1544712660500000000","name":"exception","attributes":[{"key":"exception.message","value":{"stringValue":"line1\nline2"}}]}],"links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","attributes":[{"key":"member","value":{"intValue":"1"}}],"flags":769}],"droppedLinksCount":2,"status":{"message":"model failed","code":2}}]}]}]}"#
        #expect(json == expected)
        // And it is valid JSON with the nesting collectors expect.
        let object = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let resourceSpans = try #require(object["resourceSpans"] as? [[String: Any]])
        let scopeSpans = try #require(resourceSpans.first?["scopeSpans"] as? [[String: Any]])
        let spans = try #require(scopeSpans.first?["spans"] as? [[String: Any]])
        #expect(spans.first?["kind"] as? Int == 2)
    }

    func exporter(port: UInt16, compression: OTLPHTTPJSONExporter.Compression = .none,
                  timeout: Duration = .seconds(2), attempts: Int = 3) throws -> OTLPHTTPJSONExporter {
        try OTLPHTTPJSONExporter(configuration: .init(
            endpoint: "http://127.0.0.1:\(port)/v1/traces", headers: [("x-api-key", "secret")],
            compression: compression, timeout: timeout,
            retry: .init(maxAttempts: attempts, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(50),
                         maxElapsed: .seconds(10)),
            resource: Resource(attributes: ["service.name": "test"])))
    }

    @Test func exportsToACollector() throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        #expect(exporter.export([try fixedSpan()]) == .success)
        #expect(exporter.export([try fixedSpan(), try fixedSpan()]) == .success)
        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests[0].requestLine == "POST /v1/traces HTTP/1.1")
        #expect(requests[0].headers["content-type"] == "application/json")
        #expect(requests[0].headers["x-api-key"] == "secret")
        #expect(requests[0].headers["host"] == "127.0.0.1:\(server.port)")
        let object = try JSONSerialization.jsonObject(with: Data(requests[1].body)) as? [String: Any]
        let spans = ((object?["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"] as? [Any]
        #expect(spans?.count == 2)
        #expect(server.connectionCount == 1)  // keep-alive
        exporter.shutdown()
    }

    @Test func gzipBodies() throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let exporter = try exporter(port: server.port, compression: .gzip)
        #expect(exporter.export([try fixedSpan()]) == .success)
        let request = try #require(server.requests.first)
        #expect(request.headers["content-encoding"] == "gzip")
        let json = try Gzip.decompress(request.body)
        #expect(String(decoding: json, as: UTF8.self).hasPrefix("{\"resourceSpans\":["))
    }

    @Test func retriesRetryableStatuses() throws {
        let server = TestHTTPServer(statuses: [503, 429])
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        #expect(exporter.export([try fixedSpan()]) == .success)
        #expect(server.requests.count == 3)
        #expect(exporter.retries == 2)
        #expect(exporter.requestsSent == 3)
    }

    @Test func doesNotRetryBadRequests() throws {
        let server = TestHTTPServer(statuses: [400])
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        guard case .failure(let message) = exporter.export([try fixedSpan()]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(message.contains("400"))
        #expect(server.requests.count == 1)
    }

    @Test func deadEndpointIsCountedAsDroppedWithoutHanging() throws {
        // A port nothing listens on: connection refused, retried, then given up.
        let probe = TestHTTPServer()
        let port = probe.port
        probe.stop()
        let exporter = try exporter(port: port, attempts: 3)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<5 { tracer.startSpan("s\(i)", context: .topLevel).end() }
        #expect(processor.shutdown(timeout: .seconds(10)))
        #expect(clock.now - start < .seconds(5))
        #expect(processor.exportedSpans == 0)
        #expect(processor.droppedSpans == 5)
        #expect(processor.failedSpans == 5)
        #expect(exporter.failedBatches == 1)
        #expect(exporter.lastError?.contains("gave up after 3 attempt(s)") == true)
    }

    @Test func hungCollectorHitsTheRequestTimeout() throws {
        let server = TestHTTPServer(respond: false)
        defer { server.stop() }
        let exporter = try exporter(port: server.port, timeout: .milliseconds(200), attempts: 2)
        let clock = ContinuousClock()
        let span = try fixedSpan()
        let elapsed = clock.measure {
            #expect(exporter.export([span]) != .success)
        }
        #expect(elapsed >= .milliseconds(380))
        #expect(elapsed < .seconds(3))
        #expect(exporter.lastError?.contains("timed out") == true)
    }

    @Test func httpsAndBadEndpointsAreRejected() {
        #expect(throws: TelemetryConfigurationError.self) {
            try OTLPHTTPJSONExporter(configuration: .init(endpoint: "https://collector:4318/v1/traces"))
        }
        #expect(throws: TelemetryConfigurationError.self) {
            try OTLPHTTPJSONExporter(configuration: .init(endpoint: "collector:4318"))
        }
    }

    @Test func configurationFromEnvironment() throws {
        let config = try TracingConfiguration(environment: [
            "OTEL_SERVICE_NAME": "pd-inference-prod",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, team=ml%20platform,service.name=ignored",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3Ddef, x-tenant = t1",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        ], serviceName: "pd-inference", serviceVersion: "1.0.0")
        #expect(config.otlp.endpoint == "http://otel-collector:4318/v1/traces")
        #expect(config.otlp.headers.map { "\($0.0)=\($0.1)" } == ["api-key=abc=def", "x-tenant=t1"])
        #expect(config.otlp.compression == .gzip)
        #expect(config.otlp.timeout == .milliseconds(2500))
        #expect(config.sampler == .parentBased(root: .traceIDRatio(0.25)))
        #expect(config.batch.maxQueueSize == 100)
        #expect(config.batch.maxExportBatchSize == 100)
        #expect(config.exporter == .otlp)
        #expect(config.resource.attributes["service.name"] == "pd-inference-prod")
        #expect(config.resource.attributes["service.version"] == "1.0.0")
        #expect(config.resource.attributes["team"] == "ml platform")
        #expect(config.resource.attributes["host.name"] != nil)

        let specific = try TracingConfiguration(environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom/traces",
        ], serviceName: "s")
        #expect(specific.otlp.endpoint == "http://b:4318/custom/traces")
        #expect(try TracingConfiguration(environment: [:], serviceName: "s").otlp.endpoint == "http://localhost:4318/v1/traces")

        func failure(_ environment: [String: String]) -> String? {
            do {
                _ = try TracingConfiguration(environment: environment, serviceName: "s")
                return nil
            } catch {
                return error.variable
            }
        }
        #expect(failure(["OTEL_TRACES_SAMPLER_ARG": "x", "OTEL_TRACES_SAMPLER": "traceidratio"]) == "OTEL_TRACES_SAMPLER_ARG")
        #expect(failure(["OTEL_TRACES_SAMPLER": "sometimes"]) == "OTEL_TRACES_SAMPLER")
        #expect(failure(["OTEL_TRACES_EXPORTER": "zipkin"]) == "OTEL_TRACES_EXPORTER")
        #expect(failure(["OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"]) == "OTEL_EXPORTER_OTLP_ENDPOINT")
        #expect(failure(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) == "OTEL_EXPORTER_OTLP_PROTOCOL")
        #expect(failure(["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"]) == "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        #expect(failure(["OTEL_RESOURCE_ATTRIBUTES": "novalue"]) == "OTEL_RESOURCE_ATTRIBUTES")
        #expect(failure(["OTEL_SDK_DISABLED": "maybe"]) == "OTEL_SDK_DISABLED")
        // https is fine when nothing is exported over OTLP.
        #expect(failure(["OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_TRACES_EXPORTER": "none"]) == nil)

        let disabled = try TracingConfiguration(environment: ["OTEL_SDK_DISABLED": "true"], serviceName: "s").makeTracer()
        #expect(disabled.processor == nil)
        #expect(!disabled.tracer.startSpan("x", context: .topLevel).isRecording)
    }

    @Test func urlParsing() throws {
        #expect(try HTTPURL("http://collector:4318/v1/traces") == HTTPURL(host: "collector", port: 4318, path: "/v1/traces"))
        #expect(try HTTPURL("http://collector") == HTTPURL(host: "collector", port: 80, path: "/"))
        #expect(try HTTPURL("http://[::1]:4318/x?y=1") == HTTPURL(host: "::1", port: 4318, path: "/x?y=1"))
        #expect(try HTTPURL("http://[::1]:4318/x").hostHeader == "[::1]:4318")
        #expect(throws: HTTPClientError.self) { try HTTPURL("http://host:99999/") }
    }

    @Test func responseParser() {
        var parser = HTTPResponseParser()
        #expect(parser.feed(Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab".utf8)) == .needMore)
        guard case .complete(let head) = parser.feed(Array("cd\r\n0\r\n\r\n".utf8)) else {
            Issue.record("chunked response not complete")
            return
        }
        #expect(head.status == 200)
        #expect(head.keepAlive)

        var closing = HTTPResponseParser()
        #expect(closing.feed(Array("HTTP/1.0 503 Busy\r\nRetry-After: 3\r\n\r\nbody".utf8)) == .needMore)
        guard case .complete(let busy) = closing.feedEndOfStream() else {
            Issue.record("read-until-close response not complete")
            return
        }
        #expect(busy.status == 503)
        #expect(busy.header("retry-after") == "3")
        #expect(!busy.keepAlive)

        var broken = HTTPResponseParser()
        if case .failed = broken.feed(Array("SMTP ready\r\n\r\n".utf8)) {} else { Issue.record("accepted a bad status line") }
    }
}
