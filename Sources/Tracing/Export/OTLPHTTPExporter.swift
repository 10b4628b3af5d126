import Synchronization
import TelemetryCore

/// Exports spans over OTLP/HTTP (`POST …/v1/traces`): binary protobuf (`http/protobuf`,
/// `Content-Type: application/x-protobuf`, the OpenTelemetry default) or JSON (`http/json`),
/// optionally gzip, over a small blocking HTTP/1.1 client. It is meant to run behind a
/// `BatchSpanProcessor`, whose background thread absorbs every wait: per-request timeouts,
/// retries with exponential backoff and jitter on 429/502/503/504 and connection errors
/// (honouring `Retry-After`), and a cap on the total time spent on one batch.
///
/// Only `http://` endpoints are supported; `https://` is rejected at construction.
public final class OTLPHTTPExporter: SpanExporter, SpanEncodingExporter {
    public enum Compression: String, Sendable {
        case none
        case gzip
    }

    /// The body encoding; its raw value is the `OTEL_EXPORTER_OTLP_PROTOCOL` name.
    public enum Encoding: String, Sendable {
        case protobuf = "http/protobuf"
        case json = "http/json"

        var contentType: String {
            switch self {
            case .protobuf: "application/x-protobuf"
            case .json: "application/json"
            }
        }
    }

    public struct RetryPolicy: Sendable {
        /// Attempts per batch, including the first.
        public var maxAttempts: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration
        public var multiplier: Double
        /// Time budget for one batch, all attempts and waits included.
        public var maxElapsed: Duration

        public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(5),
                    multiplier: Double = 2, maxElapsed: Duration = .seconds(30)) {
            precondition(maxAttempts >= 1 && multiplier >= 1)
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.multiplier = multiplier
            self.maxElapsed = maxElapsed
        }
    }

    public struct Configuration: Sendable {
        /// The full traces URL, e.g. `http://otel-collector:4318/v1/traces`.
        public var endpoint: String
        /// Extra request headers (e.g. authentication).
        public var headers: [(String, String)]
        public var encoding: Encoding
        public var compression: Compression
        /// Hard limit for one HTTP request (connect, send, response).
        public var timeout: Duration
        public var retry: RetryPolicy
        public var resource: Resource
        public var scope: InstrumentationScope

        public init(endpoint: String = "http://localhost:4318/v1/traces", headers: [(String, String)] = [],
                    encoding: Encoding = .protobuf, compression: Compression = .none, timeout: Duration = .seconds(10),
                    retry: RetryPolicy = RetryPolicy(),
                    resource: Resource = Resource(attributes: ["service.name": "unknown_service"]),
                    scope: InstrumentationScope = InstrumentationScope(name: "pd-inference")) {
            self.endpoint = endpoint
            self.headers = headers
            self.encoding = encoding
            self.compression = compression
            self.timeout = timeout
            self.retry = retry
            self.resource = resource
            self.scope = scope
        }

        /// `<base>/v1/traces` for an `OTEL_EXPORTER_OTLP_ENDPOINT`-style base URL.
        public static func tracesEndpoint(base: String) -> String {
            var base = base.trimmingSpaces
            while base.hasSuffix("/") { base.removeLast() }
            return base + "/v1/traces"
        }
    }

    public let configuration: Configuration
    private let url: HTTPURL
    private let client: Mutex<BlockingHTTPClient>
    private let stopping = Atomic<Bool>(false)
    private let requestCount = Atomic<Int>(0)
    private let retryCount = Atomic<Int>(0)
    private let failedBatchCount = Atomic<Int>(0)
    private let lastErrorText = Mutex<String?>(nil)

    /// Fails for a malformed or `https://` endpoint, with a message naming it.
    public init(configuration: Configuration) throws(TelemetryConfigurationError) {
        do {
            url = try HTTPURL(configuration.endpoint)
        } catch {
            throw TelemetryConfigurationError(variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", message: error.message)
        }
        self.configuration = configuration
        client = Mutex(BlockingHTTPClient(url: url))
    }

    /// HTTP requests sent, including retries.
    public var requestsSent: Int { requestCount.load(ordering: .relaxed) }
    /// Retries after a retryable status or a connection error.
    public var retries: Int { retryCount.load(ordering: .relaxed) }
    /// Batches given up on.
    public var failedBatches: Int { failedBatchCount.load(ordering: .relaxed) }
    /// The most recent failure, for a log line or a debug endpoint.
    public var lastError: String? { lastErrorText.withLock { $0 } }

    public func export(_ batch: [SpanData]) -> SpanExportResult {
        guard !batch.isEmpty else { return .success }
        var encoded = ByteBuffer(capacity: 256 * batch.count)
        for i in batch.indices { encode(batch[i], into: &encoded) }
        return export(encoded: encoded, spans: batch.count)
    }

    private func send(_ body: [UnsafeRawBufferPointer], headers: [(String, String)], client: BlockingHTTPClient) -> SpanExportResult {
        let policy = configuration.retry
        let start = SystemClock.monotonicNanoseconds()
        let budget = policy.maxElapsed.nanosecondsClamped
        var backoff = Double(policy.initialBackoff.nanosecondsClamped)
        var attempt = 0
        while true {
            attempt += 1
            requestCount.wrappingAdd(1, ordering: .relaxed)
            let elapsed = SystemClock.monotonicNanoseconds() &- start
            let timeout = min(configuration.timeout.nanosecondsClamped, budget > elapsed ? budget - elapsed : 0)
            var retryAfter: UInt64? = nil
            var failure: String
            do {
                let response = try client.post(body: body, headers: headers, timeoutNanoseconds: max(timeout, 1))
                switch response.status {
                case 200..<300:
                    return .success
                case 429, 502, 503, 504:
                    failure = "collector answered \(response.status)"
                    retryAfter = response.header("retry-after").flatMap { UInt64($0.trimmingSpaces) }.map { $0 &* 1_000_000_000 }
                default:
                    return fail("collector answered \(response.status) (not retryable)")
                }
            } catch {
                failure = error.message
            }
            guard attempt < policy.maxAttempts, !stopping.load(ordering: .relaxed) else {
                return fail("\(failure); gave up after \(attempt) attempt(s)")
            }
            // Exponential backoff with jitter in [0.5, 1) of the step, unless the server said when.
            let jitter = 0.5 + Double(IDGenerator.next() >> 11) / Double(1 << 53) * 0.5
            var wait = retryAfter ?? UInt64(min(backoff, Double(policy.maxBackoff.nanosecondsClamped)) * jitter)
            backoff *= policy.multiplier
            let now = SystemClock.monotonicNanoseconds() &- start
            guard now < budget else { return fail("\(failure); export time budget used up") }
            wait = min(wait, budget - now)
            retryCount.wrappingAdd(1, ordering: .relaxed)
            sleepUnlessStopping(wait)
        }
    }

    private func sleepUnlessStopping(_ nanoseconds: UInt64) {
        let deadline = SystemClock.monotonicNanoseconds() &+ nanoseconds
        while !stopping.load(ordering: .relaxed) {
            let now = SystemClock.monotonicNanoseconds()
            if now >= deadline { return }
            sleepNanoseconds(min(deadline - now, 50_000_000))
        }
    }

    private func fail(_ message: String) -> SpanExportResult {
        failedBatchCount.wrappingAdd(1, ordering: .relaxed)
        lastErrorText.withLock { $0 = message }
        return .failure(message)
    }

    public func shutdown() {
        stopping.store(true, ordering: .relaxed)
        client.withLock { $0.close() }
    }
}

extension OTLPHTTPExporter {
    /// Appends `span` in this exporter's encoding: spans appended one after another make the
    /// body's span list, framed by `export(encoded:spans:)`.
    func encode(_ span: borrowing SpanData, into batch: inout ByteBuffer) {
        switch configuration.encoding {
        case .protobuf: OTLPProtobufEncoder.appendSpan(span, to: &batch)
        case .json: OTLPJSONEncoder.appendSpan(span, to: &batch)
        }
    }

    /// Appends the spans of `group`'s members in `members`, as `encode` does one by one.
    func encode(_ group: borrowing SpanGroup, members: Range<Int>, into batch: inout ByteBuffer) {
        switch configuration.encoding {
        case .protobuf: OTLPProtobufEncoder.appendSpans(group, members: members, to: &batch)
        case .json: for i in members { OTLPJSONEncoder.appendSpan(group.span(i), to: &batch) }
        }
    }

    /// Sends the `spans` spans that `encode` wrote into `batch`, framed as one request (the
    /// resource, the scope), with retries.
    func export(encoded batch: borrowing ByteBuffer, spans: Int) -> SpanExportResult {
        guard spans > 0 else { return .success }
        guard !stopping.load(ordering: .relaxed) else { return .failure("exporter is shut down") }
        let (head, tail): ([UInt8], [UInt8]) = switch configuration.encoding {
        case .protobuf:
            (OTLPProtobufEncoder.envelope(resource: configuration.resource, scope: configuration.scope, spanBytes: batch.count), [])
        case .json: OTLPJSONEncoder.envelope(resource: configuration.resource, scope: configuration.scope)
        }
        var headers: [(String, String)] = [("Content-Type", configuration.encoding.contentType),
                                           ("User-Agent", "pd-inference-otlp/1")]
        if configuration.compression == .gzip {
            let compressed: [UInt8]
            do {
                compressed = try Gzip.compress(head + Array(batch.bytes) + tail)
            } catch {
                return fail(error.description)
            }
            headers.append(("Content-Encoding", "gzip"))
            headers.append(contentsOf: configuration.headers)
            return compressed.withUnsafeBytes { body in
                let parts = BodyParts(parts: [body])
                return client.withLock { client in send(parts.parts, headers: headers, client: client) }
            }
        }
        headers.append(contentsOf: configuration.headers)
        // The spans are sent from where they were encoded, between the frame's two parts.
        return head.withUnsafeBytes { head in
            tail.withUnsafeBytes { tail in
                let parts = BodyParts(parts: [head, batch.bytes, tail])
                return client.withLock { client in send(parts.parts, headers: headers, client: client) }
            }
        }
    }
}

/// A request body's parts, read only while the export that owns their memory waits for the send.
private struct BodyParts: @unchecked Sendable {
    let parts: [UnsafeRawBufferPointer]
}

/// The exporter's name before it spoke `http/protobuf` too.
@available(*, deprecated, renamed: "OTLPHTTPExporter")
public typealias OTLPHTTPJSONExporter = OTLPHTTPExporter

/// A setting that cannot be used; the message names the variable and the problem.
public struct TelemetryConfigurationError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "\(variable): \(message)" }
}
