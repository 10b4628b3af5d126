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
        let pending = begin(request, context: context)
        // The middleware and the context (a reference each) rather than their fields: the
        // logger and most of the context are read only when the line is written.
        next.respond(to: request, context: context) { [self, context] response in
            // What the line needs is read first, so the response is handed on without a copy.
            let answered = pending.answered(response)
            completion(response)
            log(answered, context: context)
        }
    }

    /// What the line needs from the request.
    struct Pending: Sendable {
        let quiet: Bool
        let method: HTTPMethod

        /// What the line needs from the response: its status code and body size.
        func answered(_ response: borrowing HTTPResponse) -> Answered {
            Answered(pending: self, code: response.status.code, bodySize: method == .HEAD ? 0 : response.body.count)
        }
    }

    struct Answered {
        let pending: Pending
        let code: Int
        let bodySize: Int
    }

    func begin(_ request: HTTPRequest, context: RequestContext) -> Pending {
        Pending(quiet: quietRoutes.contains(context.route), method: request.method)
    }

    /// Writes the line, if its status and level call for one (after the response was handed on).
    func log(_ answered: Answered, context: RequestContext) {
        let code = answered.code
        guard code >= minimumStatus else { return }
        // 503 and 504 are load shedding and deadlines, not faults: warning, so overload does not
        // bury real errors.
        let level: Logger.Level = code == 503 || code == 504 ? .warning
            : code >= 500 ? .error : (answered.pending.quiet && code < 400 ? .debug : .info)
        guard level >= logger.logLevel else { return }
        let elapsed = monotonicNanos() &- context.receivedAtNanos
        // Fields in key order, written straight into the JSON line (no metadata dictionary).
        var fields = Logger.Fields()
        fields.add("http.duration_ms", Double(elapsed / 1_000) / 1_000)
        fields.add("http.request.method", answered.pending.method.description)
        fields.add("http.response.body.size", answered.bodySize)
        fields.add("http.response.status_code", code)
        fields.add("http.route", context.route)
        if let model = context.parameter("model") { fields.add("model.name", model) }
        fields.add("request.id", context.requestID)
        logger.log(level: level, AccessLogMiddleware.message, fields: fields)
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
