import Synchronization
import Telemetry

/// Counts and times every request by method, route template and status code:
/// `pd_http_requests_total{method,route,code}` and `pd_http_request_duration_seconds{method,route}`.
/// Handles are made once per label set and cached; the duration carries the request's span as exemplar.
///
/// The method and route series are found when the request arrives (on its event loop, where the
/// route string is in cache); the response, which may finish on another thread, only picks the
/// counter of its status code from a table read without a lock.
public final class MetricsMiddleware: HTTPMiddleware, Sendable {
    let registry: MetricsRegistry
    /// Every method and route seen, scanned in order: a service has a few dozen at most, and
    /// comparing them is cheaper than hashing two strings (a route template is the router's own
    /// string, so equal routes compare by identity; method labels are small strings).
    private let routes = Mutex<[RouteSeries]>([])

    public init(registry: MetricsRegistry = MetricsSystem.registry) {
        self.registry = registry
        registry.describe(name: "pd_http_requests_total", help: "HTTP requests answered, by method, route template and status code.")
        registry.describe(name: "pd_http_request_duration_seconds", help: "Time from a complete request head to its response, by method and route template.")
    }

    /// The `method` label: the standard methods by name, anything else as `other` (bounded).
    static func methodLabel(_ method: HTTPMethod) -> String {
        switch method {
        case .other: "other"
        default: method.description
        }
    }

    /// Creates the series of the given routes up front, so they exist before the first request.
    public func prepare(method: String, route: String, code: Int) {
        _ = series(method: method, route: route).requests(code: code)
    }

    /// Counts a response the server wrote itself before routing (400, 408, 413, 431, …), for
    /// `HTTPServer.Configuration.rejectionObserver`.
    public func recordEarlyResponse(_ status: HTTPStatus) {
        series(method: "other", route: Router.unmatchedRoute).requests(code: status.code).increment()
    }

    func series(method: String, route: String) -> RouteSeries {
        if let found = routes.withLock({ $0.first { $0.matches(method: method, route: route) } }) { return found }
        // Made outside the lock (registering takes the registry's lock); a racing thread gets
        // the same series from the registry, and the first one published wins.
        let made = RouteSeries(method: method, route: route, registry: registry)
        return routes.withLock { routes in
            if let found = routes.first(where: { $0.matches(method: method, route: route) }) { return found }
            routes.append(made)
            return made
        }
    }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                       completion: @escaping ResponseCompletion) {
        let series = begin(request, context: context)
        next.respond(to: request, context: context) { response in
            series.record(code: response.status.code, receivedAt: context.receivedAtNanos, exemplarFrom: ServiceContext.current)
            completion(response)
        }
    }

    /// The request's series, found when it arrives (see `TelemetryMiddleware`).
    func begin(_ request: HTTPRequest, context: RequestContext) -> RouteSeries {
        series(method: Self.methodLabel(request.method), route: context.route)
    }
}

/// The series of one method and route: the duration histogram, and a request counter per
/// status code, made on first use and then found with one atomic load.
final class RouteSeries: @unchecked Sendable {
    // @unchecked: `slots` is allocated in `init`, freed in `deinit`, and only read and written
    // through its Atomic elements; the boxes it points to are owned by `made` and never freed
    // before the series.
    let duration: Histogram
    private let method: String
    private let route: String
    private let registry: MetricsRegistry
    /// Codes 100...599: the bits of an unretained `CounterBox`, 0 until that counter is made.
    private let slots: UnsafeMutablePointer<Atomic<UInt>>
    private static let codes = 100...599
    /// Owns every box `slots` points to, and holds counters for codes outside 100...599.
    private let made = Mutex<(boxes: [CounterBox], unusual: [Int: Counter])>(([], [:]))

    final class CounterBox: Sendable {
        let counter: Counter
        init(_ counter: Counter) { self.counter = counter }
    }

    init(method: String, route: String, registry: MetricsRegistry) {
        self.method = method
        self.route = route
        self.registry = registry
        duration = Histogram(label: "pd_http_request_duration_seconds", dimensions: [("method", method), ("route", route)],
                             registry: registry)
        slots = .allocate(capacity: RouteSeries.codes.count)
        for i in 0..<RouteSeries.codes.count { (slots + i).initialize(to: Atomic(0)) }
    }

    @inline(__always)
    func matches(method: String, route: String) -> Bool {
        self.route == route && self.method == method
    }

    deinit {
        slots.deinitialize(count: RouteSeries.codes.count)
        slots.deallocate()
    }

    /// Counts a response and times it from `receivedAt` (monotonic nanoseconds).
    func record(code: Int, receivedAt: UInt64, exemplarFrom context: ServiceContext?) {
        let seconds = Double(monotonicNanos() &- receivedAt) / 1e9
        requests(code: code).increment()
        duration.observe(seconds, exemplarFrom: context)
    }

    @inline(__always)
    func requests(code: Int) -> Counter {
        if RouteSeries.codes.contains(code) {
            let bits = slots[code - RouteSeries.codes.lowerBound].load(ordering: .acquiring)
            if bits != 0 {
                return Unmanaged<CounterBox>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef { $0.counter }
            }
        }
        return make(code: code)
    }

    private func make(code: Int) -> Counter {
        let counter = Counter(label: "pd_http_requests_total",
                              dimensions: [("method", method), ("route", route), ("code", String(code))], registry: registry)
        return made.withLock { made in
            guard RouteSeries.codes.contains(code) else {
                made.unusual[code] = counter
                return counter
            }
            let slot = slots + (code - RouteSeries.codes.lowerBound)
            if slot.pointee.load(ordering: .acquiring) == 0 {
                let box = CounterBox(counter)
                made.boxes.append(box)
                slot.pointee.store(UInt(bitPattern: Unmanaged.passUnretained(box).toOpaque()), ordering: .releasing)
            }
            return counter  // the registry returns the same series for the same labels
        }
    }
}
