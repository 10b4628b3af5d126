import Telemetry

/// Logs one line per finished request: the constant message `request completed` with the method,
/// route template, status, duration, body size, request id and (when the route has one) model name.
/// Info below 500, warning for 503 and 504, error for other 5xx; successful requests to `quietRoutes` (probes, scrapes) at debug.
/// Answers below `minimumStatus` are not logged (400: errors only).
public final class AccessLogMiddleware: HTTPMiddleware, Sendable {
    public static let message = "request completed"
    let logger: Logger
    let quietRoutes: RouteSet
    let minimumStatus: Int

    public init(logger: Logger = Logger(label: "http"), quietRoutes: Set<String> = [], minimumStatus: Int = 0) {
        self.logger = logger
        self.quietRoutes = RouteSet(quietRoutes)
        self.minimumStatus = minimumStatus
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let quiet = quietRoutes.contains(context.route)
        let method = request.method
        // The middleware and the context (a reference each) rather than their fields: the
        // logger and most of the context are read only when the line is written.
        next.respond(to: request, context: context) { [self, context] response in
            // What the line needs is read first, so the response is handed on without a copy.
            let code = response.status.code
            let bodySize = method == .HEAD ? 0 : response.body.count
            completion(response)
            guard code >= minimumStatus else { return }
            // 503 and 504 are load shedding and deadlines, not faults: warning, so overload does not
            // bury real errors.
            let level: Logger.Level = code == 503 || code == 504 ? .warning
                : code >= 500 ? .error : (quiet && code < 400 ? .debug : .info)
            guard level >= logger.logLevel else { return }
            let elapsed = monotonicNanos() &- context.receivedAtNanos
            // Fields in key order, written straight into the JSON line (no metadata dictionary).
            var fields = Logger.Fields()
            fields.add("http.duration_ms", Double(elapsed / 1_000) / 1_000)
            fields.add("http.request.method", method.description)
            fields.add("http.response.body.size", bodySize)
            fields.add("http.response.status_code", code)
            fields.add("http.route", context.route)
            if let model = context.parameter("model") { fields.add("model.name", model) }
            fields.add("request.id", context.requestID)
            logger.log(level: level, AccessLogMiddleware.message, fields: fields)
        }
    }
}

/// A small set of route templates, tested without hashing: a route whose length no member has is
/// rejected from a bitmask of member lengths (most requests go to routes that are not probes or
/// scrapes), and the others are compared with the few members of that length (route templates
/// are short, often inline strings, or the router's own, which compare by identity).
struct RouteSet: Sendable {
    private let routes: [String]
    /// Bit n set when a member is n bytes long (n < 63); bit 63 for longer members.
    private let lengths: UInt64

    init(_ routes: Set<String>) {
        self.routes = routes.sorted()
        lengths = routes.reduce(0) { $0 | RouteSet.lengthBit($1) }
    }

    @inline(__always)
    private static func lengthBit(_ route: String) -> UInt64 { 1 << UInt64(min(route.utf8.count, 63)) }

    @inline(__always)
    func contains(_ route: String) -> Bool {
        guard lengths & RouteSet.lengthBit(route) != 0 else { return false }
        for member in routes where member == route { return true }
        return false
    }
}
