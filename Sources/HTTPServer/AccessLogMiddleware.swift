import Telemetry

/// Logs one line per finished request: the constant message `request completed` with the method,
/// route template, status, duration, body size, request id and (when the route has one) model name.
/// Info below 500, warning for 503 and 504, error for other 5xx; successful requests to `quietRoutes` (probes, scrapes) at debug.
public struct AccessLogMiddleware: HTTPMiddleware {
    public static let message = "request completed"
    let logger: Logger
    let quietRoutes: Set<String>

    public init(logger: Logger = Logger(label: "http"), quietRoutes: Set<String> = []) {
        self.logger = logger
        self.quietRoutes = quietRoutes
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let logger = self.logger
        let quiet = quietRoutes.contains(context.route)
        let method = request.method
        next.respond(to: request, context: context) { response in
            completion(response)
            let code = response.status.code
            // 503 and 504 are load shedding and deadlines, not faults: warning, so overload does not
            // bury real errors.
            let level: Logger.Level = code == 503 || code == 504 ? .warning
                : code >= 500 ? .error : (quiet && code < 400 ? .debug : .info)
            guard level >= logger.logLevel else { return }
            let elapsed = monotonicNanos() &- context.receivedAtNanos
            let milliseconds = Double(elapsed / 1_000) / 1_000
            var metadata: Logger.Metadata = [
                "http.request.method": .string(method.description),
                "http.route": .string(context.route),
                "http.response.status_code": .stringConvertible(code),
                "http.duration_ms": .stringConvertible(milliseconds),
                "http.response.body.size": .stringConvertible(method == .HEAD ? 0 : response.body.count),
                "request.id": .string(context.requestID),
            ]
            if let model = context.parameters["model"] {
                metadata["model.name"] = .string(model)
            }
            logger.log(level: level, AccessLogMiddleware.message, metadata: metadata)
        }
    }
}
