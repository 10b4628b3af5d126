import Telemetry

/// The access log, metrics and tracing middlewares as one: the same work, in the same order as
/// when they are chained (access log outermost, tracing innermost), with one completion closure
/// per request instead of one per middleware (each a heap context whose captures are retained
/// and released). Any of the three may be absent.
///
///     router.add(middleware: TelemetryMiddleware(accessLog: AccessLogMiddleware(),
///                                                metrics: MetricsMiddleware(),
///                                                tracing: TracingMiddleware(tracer: tracer)))
public final class TelemetryMiddleware: HTTPMiddleware, Sendable {
    let accessLog: AccessLogMiddleware?
    let metrics: MetricsMiddleware?
    let tracing: TracingMiddleware?

    public init(accessLog: AccessLogMiddleware? = nil, metrics: MetricsMiddleware? = nil, tracing: TracingMiddleware? = nil) {
        self.accessLog = accessLog
        self.metrics = metrics
        self.tracing = tracing
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let line = accessLog?.begin(request, context: context)
        let series = metrics?.begin(request, context: context)
        let traced = tracing?.begin(request, context: context) ?? false
        next.respond(to: request, context: context) { [self] (response: consuming HTTPResponse) in
            // Tracing first (its context is then bound for the exemplar and the log line), then
            // metrics, then the access log, whose line is written after the response is handed on.
            let bound = tracing?.finish(&response, traced: traced, context: context)
            let answered = line?.answered(response)
            series?.record(code: response.status.code, receivedAt: context.receivedAtNanos,
                           exemplarFrom: bound ?? ServiceContext.current)
            TracingMiddleware.deliver(response, bound: bound, to: completion) {
                if let accessLog, let answered { accessLog.log(answered, context: context) }
            }
        }
    }
}
