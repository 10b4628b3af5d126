import Synchronization
import TelemetryCore

/// Serves `/metrics`: picks the format from `Accept`, renders into a reused buffer, and
/// gzips when `Accept-Encoding` allows.
///
///     let metrics = MetricsEndpoint(registry: MetricsSystem.registry)
///     let response = metrics.respond(accept: request.header("accept"), acceptEncoding: request.header("accept-encoding"))
///     // status 200, headers response.headers, body response.body
public final class MetricsEndpoint: Sendable {
    public struct Response: Sendable {
        public var format: ExpositionFormat
        public var contentType: String
        /// `gzip` or nil.
        public var contentEncoding: String?
        public var body: [UInt8]

        /// `Content-Type`, `Content-Encoding` when compressed, and `Vary`.
        public var headers: [(String, String)] {
            var headers = [("Content-Type", contentType), ("Vary", "Accept, Accept-Encoding")]
            if let contentEncoding { headers.append(("Content-Encoding", contentEncoding)) }
            return headers
        }
    }

    public let registry: MetricsRegistry
    private let scratch = Mutex<[UInt8]>([])

    public init(registry: MetricsRegistry = MetricsSystem.registry) {
        self.registry = registry
    }

    public func respond(accept: String?, acceptEncoding: String?) -> Response {
        let format = ExpositionFormat.negotiate(accept: accept)
        let gzip = Gzip.isAccepted(acceptEncoding: acceptEncoding)
        return scratch.withLock { buffer in
            buffer.removeAll(keepingCapacity: true)
            registry.render(format, into: &buffer)
            if gzip, let compressed = try? Gzip.compress(buffer, level: 1) {
                return Response(format: format, contentType: format.contentType, contentEncoding: "gzip", body: compressed)
            }
            return Response(format: format, contentType: format.contentType, contentEncoding: nil, body: buffer)
        }
    }
}
