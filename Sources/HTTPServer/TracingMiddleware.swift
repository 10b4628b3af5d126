import Synchronization
import Telemetry

/// Starts a server span per request from the incoming W3C `traceparent`/`tracestate` (an invalid or
/// missing header starts a new trace and never fails the request) and binds it to the request's
/// context: its ids as `RequestContext.traceContext` always, the span as `RequestContext.span` when
/// it is recorded (an unsampled request gets ids but no span object). Every response carries
/// `traceparent` (`HTTPResponse.traceContext`, written by the encoder from the ids), and the
/// context is bound while the response travels outwards so access logs and exemplars carry its
/// ids. The span's name and attributes are only built when the sampler records it.
public final class TracingMiddleware: HTTPMiddleware, Sendable {
    let tracer: Tracer
    let propagator = W3CTraceContextPropagator()
    /// Routes answered without a recorded span (probes, scrapes): they still get a `traceparent`
    /// in the caller's trace, but nothing is exported for them.
    let untracedRoutes: RouteSet
    /// `{method} {route}` (the semantic conventions' server span name), made once per pair.
    let spanNames = SpanNames()

    public init(tracer: Tracer, untracedRoutes: Set<String> = []) {
        self.tracer = tracer
        self.untracedRoutes = RouteSet(untracedRoutes)
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let traced = begin(request, context: context)
        next.respond(to: request, context: context) { [self] (response: consuming HTTPResponse) in
            let bound = finish(&response, traced: traced, context: context)
            TracingMiddleware.deliver(response, bound: bound, to: completion)
        }
    }

    /// Hands `response` to `completion`, then runs `after`, both with `bound` as the current
    /// context (nil: nothing is bound, the caller's context stays current).
    static func deliver(_ response: consuming HTTPResponse, bound: ServiceContext?, to completion: ResponseCompletion,
                        then after: () -> Void = {}) {
        guard let bound else {
            completion(response)
            after()
            return
        }
        // Taken (moved) inside the closure below: capturing the response would copy it.
        var taken: HTTPResponse? = response
        ServiceContext.withValue(bound) {
            completion(taken.take()!)
            after()
        }
    }

    /// Binds the request's trace identity to its context and, unless the route is untraced,
    /// starts the server span (bound too when it is recorded). Returns whether the route is traced.
    func begin(_ request: HTTPRequest, context: RequestContext) -> Bool {
        let parent = propagator.extract { request.headers[$0] }
        if untracedRoutes.contains(context.route) {
            let own = TraceContext(traceID: parent?.traceID ?? TraceID.random(), spanID: SpanID.random(),
                                   flags: parent?.flags.subtracting(.sampled) ?? [], traceState: parent?.traceState ?? TraceState())
            context.bind(traceContext: own, span: nil)
            return false
        }
        // The span starts when the request was read (its head parsed), not when this runs.
        let start = SystemClock.unixNanoseconds(monotonic: context.receivedAtNanos)
        let (trace, span) = tracer.startSpanIfRecording(context: ServiceContext(traceContext: parent), ofKind: .server,
                                                        at: start) {
            // Room for these five, the status code and a few a handler adds (the inference
            // service adds two), so the list is allocated once.
            var attributes = SpanAttributes(minimumCapacity: 10)
            attributes.appendNew("http.request.method", .string(request.method.description))
            attributes.appendNew("http.route", .string(context.route))
            attributes.appendNew("url.path", .string(request.path))
            attributes.appendNew("server.port", .int(context.localPort))
            if let agent = request.headers["User-Agent"] { attributes.appendNew("user_agent.original", .string(agent)) }
            return (spanNames.name(request.method, context.route), attributes)
        }
        // Also when unsampled: the batcher lists member trace ids from it.
        context.bind(traceContext: trace, span: span)
        return true
    }

    /// Puts `traceparent` on the response and ends the span that `begin` bound; returns the
    /// context to bind while the response travels outwards (nil for an untraced route).
    func finish(_ response: inout HTTPResponse, traced: Bool, context: RequestContext) -> ServiceContext? {
        guard let trace = context.traceContext else { return nil }
        response.traceContext = trace
        guard traced else { return nil }
        guard let span = context.span else { return ServiceContext(traceContext: trace) }
        let code = response.status.code
        span.appendNewAttribute("http.response.status_code", .int(code))  // only set here: no search
        if code >= 500 {
            span.setStatus(.error(message: "HTTP \(code)"))
        }
        span.end()
        return span.context
    }
}

/// Server span names by method and route template: a handful of pairs, found by a scan (route
/// templates are the router's own strings, so equal ones compare by identity) instead of being
/// formatted for every sampled request.
final class SpanNames: Sendable {
    private let names = Mutex<[(method: HTTPMethod, route: String, name: String)]>([])

    func name(_ method: HTTPMethod, _ route: String) -> String {
        if let found = names.withLock({ $0.first { $0.route == route && $0.method == method }?.name }) { return found }
        let name = "\(method) \(route)"
        if case .other = method { return name }  // any token a client sends: not kept
        names.withLock { if $0.count < 256 { $0.append((method, route, name)) } }
        return name
    }
}
