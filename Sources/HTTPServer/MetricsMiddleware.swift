import Synchronization
import Telemetry

/// Counts and times every request by method, route template and status code:
/// `pd_http_requests_total{method,route,code}` and `pd_http_request_duration_seconds{method,route}`.
/// Handles are made once per label set and cached; the duration carries the request's span as exemplar.
public final class MetricsMiddleware: HTTPMiddleware, Sendable {
    struct Key: Hashable {
        let method: String
        let route: String
        let code: Int
    }

    let registry: MetricsRegistry
    private let counters = Mutex<[Key: Counter]>([:])
    private let durations = Mutex<[Key: Histogram]>([:])
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]

    public init(registry: MetricsRegistry = MetricsSystem.registry) {
        self.registry = registry
        registry.describe(name: "pd_http_requests_total", help: "HTTP requests answered, by method, route template and status code.")
        registry.describe(name: "pd_http_request_duration_seconds", help: "Time from a complete request head to its response, by method and route template.")
    }

    /// Creates the series of the given routes up front, so they exist before the first request.
    public func prepare(method: String, route: String, code: Int) {
        _ = counter(Key(method: method, route: route, code: code))
        _ = duration(Key(method: method, route: route, code: 0))
    }

    /// Counts a response the server wrote itself before routing (400, 408, 413, 431, …), for
    /// `HTTPServer.Configuration.rejectionObserver`.
    public func recordEarlyResponse(_ status: HTTPStatus) {
        counter(Key(method: "other", route: Router.unmatchedRoute, code: status.code)).increment()
    }

    func counter(_ key: Key) -> Counter {
        counters.withLock { cache in
            if let c = cache[key] { return c }
            let c = Counter(label: "pd_http_requests_total",
                            dimensions: [("method", key.method), ("route", key.route), ("code", String(key.code))], registry: registry)
            cache[key] = c
            return c
        }
    }

    func duration(_ key: Key) -> Histogram {
        durations.withLock { cache in
            if let h = cache[key] { return h }
            let h = Histogram(label: "pd_http_request_duration_seconds",
                              dimensions: [("method", key.method), ("route", key.route)], registry: registry)
            cache[key] = h
            return h
        }
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let method = Self.knownMethods.contains(request.method.description) ? request.method.description : "other"
        next.respond(to: request, context: context) { [self] response in
            let seconds = Double(monotonicNanos() &- context.receivedAtNanos) / 1e9
            counter(Key(method: method, route: context.route, code: response.status.code)).increment()
            duration(Key(method: method, route: context.route, code: 0)).observe(seconds, exemplarFrom: ServiceContext.current)
            completion(response)
        }
    }
}
