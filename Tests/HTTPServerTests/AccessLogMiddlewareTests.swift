import Synchronization
import Telemetry
import Testing
@testable import HTTPServer

/// Keeps every record in memory, with the trace bound (`ServiceContext.current`) when it was logged.
final class CapturingLogHandler: LogHandler {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
        var trace: TraceID?
    }

    let records = Mutex<[Record]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.MetadataValue? {
        get { nil }
        set {}
    }

    func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String, file: String,
             function: String, line: UInt) {
        let trace = ServiceContext.current?.traceContext?.traceID
        records.withLock { $0.append(Record(level: level, message: message, metadata: metadata ?? [:], trace: trace)) }
    }
}

@Suite("AccessLogMiddleware")
struct AccessLogMiddlewareTests {
    func run(_ method: HTTPMethod, _ path: String, status: HTTPStatus) -> CapturingLogHandler.Record? {
        let handler = CapturingLogHandler()
        let router = Router()
        router.add(middleware: AccessLogMiddleware(logger: Logger(label: "http", handler: handler)))
        router.on(.GET, "/v2/models/{model}/ready") { _, _ in HTTPResponse(status: status, contentType: "text/plain", body: "ready") }
        let context = RequestContext(requestID: "req-1", receivedAtNanos: monotonicNanos())
        let got = Mutex<HTTPResponse?>(nil)
        router.respond(to: HTTPRequest(method: method, path: path), context: context) { r in got.withLock { $0 = r } }
        #expect(got.withLock { $0 } != nil)
        let records = handler.records.withLock { $0 }
        #expect(records.count == 1)
        return records.first
    }

    @Test func logsOneLineWithTheFields() throws {
        let record = try #require(run(.GET, "/v2/models/digits/ready", status: .ok))
        #expect(record.message == "request completed")
        #expect(record.level == .info)
        let m = record.metadata
        #expect(m["http.request.method"]?.description == "GET")
        #expect(m["http.route"]?.description == "/v2/models/{model}/ready")
        #expect(m["http.response.status_code"]?.description == "200")
        #expect(m["http.response.body.size"]?.description == "5")
        #expect(m["request.id"]?.description == "req-1")
        #expect(m["model.name"]?.description == "digits")
        let duration = try #require(Double(m["http.duration_ms"]?.description ?? ""))
        #expect(duration >= 0)
    }

    @Test func routeSetMatchesMembersOnly() {
        let long = "/v2/models/{model}/versions/{version}/infer/and/a/path/longer/than/sixty-three/bytes"
        let set = RouteSet(["/healthz", "/metrics", "/readyz", long])
        for member in ["/healthz", "/metrics", "/readyz", long] { #expect(set.contains(member)) }
        // Same lengths as members, other lengths, a longer route sharing the >63-byte bit, empty.
        for other in ["/healthx", "/metricz", "/livez", "/v2/models/{model}/infer", long + "x", ""] {
            #expect(!set.contains(other))
        }
        #expect(!RouteSet([]).contains("/healthz"))
    }

    @Test func errorsOnlySkipsAnswersBelow400() {
        let handler = CapturingLogHandler()
        let router = Router()
        router.add(middleware: AccessLogMiddleware(logger: Logger(label: "http", handler: handler), minimumStatus: 400))
        router.on(.GET, "/v2/models/{model}/ready") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "ready") }
        for path in ["/v2/models/digits/ready", "/nope", "/v2/models/mlp/ready"] {
            router.respond(to: HTTPRequest(method: .GET, path: path),
                           context: RequestContext(requestID: "req-1", receivedAtNanos: monotonicNanos())) { _ in }
        }
        let records = handler.records.withLock { $0 }
        #expect(records.map { $0.metadata["http.response.status_code"]?.description } == ["404"])
    }

    @Test func serverErrorsLogAtErrorLevel() throws {
        let record = try #require(run(.GET, "/v2/models/digits/ready", status: .internalServerError))
        #expect(record.level == .error)
    }

    @Test func sheddingAndDeadlinesLogAtWarningLevel() throws {
        for status in [HTTPStatus.serviceUnavailable, .gatewayTimeout] {
            let record = try #require(run(.GET, "/v2/models/digits/ready", status: status))
            #expect(record.level == .warning)
        }
    }

    @Test func unmatchedRouteAndHeadBodySize() throws {
        let missing = try #require(run(.GET, "/nope", status: .ok))
        #expect(missing.metadata["http.route"]?.description == "unmatched")
        #expect(missing.metadata["http.response.status_code"]?.description == "404")
        #expect(missing.metadata["model.name"] == nil)
        let head = try #require(run(.HEAD, "/v2/models/m/ready", status: .ok))
        #expect(head.metadata["http.response.body.size"]?.description == "0")
    }
}
