import Telemetry

/// Routes requests by path template (`/v2/models/{model}/versions/{version}/infer`) and runs the
/// middleware chain around the matched handler.
///
/// The route is resolved before any middleware runs, so middleware (access log, metrics, tracing)
/// sees `context.route`, the template, and never labels anything with a raw path.
public final class Router: HTTPResponder, @unchecked Sendable {
    // Safe: routes and middleware are only mutated while the server is being configured, before
    // `respond` can be called from event-loop threads; afterwards they are read-only.

    /// Runs on the event loop; must be fast and never block.
    public typealias Handler = @Sendable (HTTPRequest, RequestContext) -> HTTPResponse
    /// Answers later, from any thread, through `completion`.
    public typealias DeferredHandler = @Sendable (HTTPRequest, RequestContext, @escaping ResponseCompletion) -> Void

    enum Segment: Equatable {
        case literal(String)
        case parameter(String)
    }

    struct Route {
        let template: String
        let segments: [Segment]
        private(set) var handlers: [HTTPMethod: DeferredHandler]
        /// `handlers` as a short list: a linear scan beats hashing for a handful of methods, and
        /// closures kept in class instances are called without reabstraction thunks.
        private var methodList: [MethodHandler]
        /// `segments` as bytes, compared against the request path without building substrings.
        let matchers: [Matcher]
        let parameterCount: Int

        init(template: String, segments: [Segment], method: HTTPMethod, handler: @escaping DeferredHandler,
             middleware: [any HTTPMiddleware]) {
            self.template = template
            self.segments = segments
            // The list entry gets the closure as registered (not read back from the dictionary,
            // which would wrap it in a reabstraction thunk).
            handlers = [method: handler]
            methodList = [MethodHandler(method: method, handler: handler, middleware: middleware)]
            matchers = segments.map { segment in
                switch segment {
                case .literal(let text): .literal(Array(text.utf8))
                case .parameter(let name): .parameter(name)
                }
            }
            parameterCount = matchers.count { if case .parameter = $0 { true } else { false } }
        }

        mutating func set(_ method: HTTPMethod, _ handler: @escaping DeferredHandler, middleware: [any HTTPMiddleware]) {
            handlers[method] = handler
            methodList.removeAll { $0.method == method }
            methodList.append(MethodHandler(method: method, handler: handler, middleware: middleware))
        }

        /// Builds the entries' chains again around the current middleware.
        mutating func rechain(_ middleware: [any HTTPMiddleware]) {
            methodList = methodList.map { MethodHandler(method: $0.method, handler: $0.handler, middleware: middleware) }
        }

        func handler(for method: HTTPMethod) -> MethodHandler? {
            for entry in methodList where entry.method == method { return entry }
            return nil
        }
    }

    final class MethodHandler: Sendable {
        let method: HTTPMethod
        let handler: DeferredHandler
        /// The middleware chain around `handler`, built once: a request walks it without allocating.
        let chain: any HTTPResponder

        init(method: HTTPMethod, handler: @escaping DeferredHandler, middleware: [any HTTPMiddleware]) {
            self.method = method
            self.handler = handler
            chain = Router.chain(middleware, around: HandlerResponder(handler: handler))
        }
    }

    enum Matcher {
        case literal([UInt8])
        case parameter(String)
    }

    // Read-only once serving (see above), so runtime exclusivity tracking is skipped on the hot path.
    @exclusivity(unchecked) private var routes: [Route] = []
    @exclusivity(unchecked) private var middleware: [any HTTPMiddleware] = []
    /// Route label used when nothing matches, so metrics stay bounded.
    public static let unmatchedRoute = "unmatched"

    public init() {}

    /// Appends a middleware; the first added is the outermost.
    public func add(middleware: any HTTPMiddleware) {
        self.middleware.append(middleware)
        for index in routes.indices { routes[index].rechain(self.middleware) }
    }

    /// Registers a handler that answers on the event loop (cheap work only).
    public func on(_ method: HTTPMethod, _ template: String, _ handler: @escaping Handler) {
        onDeferred(method, template) { request, context, completion in completion(handler(request, context)) }
    }

    /// Registers a handler that may answer later from another thread.
    public func onDeferred(_ method: HTTPMethod, _ template: String, _ handler: @escaping DeferredHandler) {
        let segments = Router.split(template).map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
        if let index = routes.firstIndex(where: { $0.segments == segments }) {
            routes[index].set(method, handler, middleware: middleware)
        } else {
            routes.append(Route(template: template, segments: segments, method: method, handler: handler, middleware: middleware))
        }
    }

    public func get(_ template: String, _ handler: @escaping Handler) { on(.GET, template, handler) }
    public func post(_ template: String, _ handler: @escaping Handler) { on(.POST, template, handler) }

    /// Registers a Swift-concurrency handler; it runs on the cooperative pool, off the event loop.
    public func onAsync(_ method: HTTPMethod, _ template: String,
                        _ handler: @escaping @Sendable (HTTPRequest, RequestContext) async -> HTTPResponse) {
        onDeferred(method, template) { request, context, completion in
            Task { completion(await handler(request, context)) }
        }
    }

    /// The index of the route matching `path` and its parameters in path order, or nil. Segments
    /// are the `/`-separated parts after the first `/`, trailing slashes ignored; the first
    /// registered matching route wins.
    func matchIndex(_ path: String) -> (Int, [(name: String, value: String)])? {
        var path = path
        return path.withUTF8 { match(utf8: $0) }
    }

    private func match(utf8 b: UnsafeBufferPointer<UInt8>) -> (Int, [(name: String, value: String)])? {
        let slash: UInt8 = 0x2F
        var end = b.count
        while end > 1 && b[end - 1] == slash { end -= 1 }
        var slashes = 0
        var firstSlash = -1
        for i in 0..<end where b[i] == slash {
            if firstSlash < 0 { firstSlash = i }
            slashes += 1
        }
        candidates: for index in routes.indices where routes[index].matchers.count == slashes {
            var start = firstSlash + 1
            for matcher in routes[index].matchers {
                var stop = start
                while stop < end && b[stop] != slash { stop += 1 }
                switch matcher {
                case .literal(let text):
                    guard stop - start == text.count else { continue candidates }
                    for k in 0..<text.count where text[k] != b[start + k] { continue candidates }
                case .parameter:
                    if stop == start { continue candidates }
                }
                start = stop + 1
            }
            guard routes[index].parameterCount > 0 else { return (index, []) }
            var parameters: [(name: String, value: String)] = []
            parameters.reserveCapacity(routes[index].parameterCount)
            start = firstSlash + 1
            for matcher in routes[index].matchers {
                var stop = start
                while stop < end && b[stop] != slash { stop += 1 }
                if case .parameter(let name) = matcher {
                    parameters.append((name, String(decoding: UnsafeBufferPointer(rebasing: b[start..<stop]), as: UTF8.self)))
                }
                start = stop + 1
            }
            return (index, parameters)
        }
        return nil
    }

    static func split(_ path: String) -> [Substring] {
        var trimmed = Substring(path)
        while trimmed.hasSuffix("/") && trimmed.count > 1 { trimmed = trimmed.dropLast() }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        route(request, context: context, completion: completion)
    }

    /// `respond` for a context the caller gives up (the event loop's): setting the route then
    /// changes it in place instead of copying it.
    func route(_ request: HTTPRequest, context: consuming RequestContext, completion: @escaping ResponseCompletion) {
        let endpoint: any HTTPResponder
        if let (index, parameters) = matchIndex(request.path) {
            context.route = routes[index].template
            context.setParameters(parameters)
            if let handler = routes[index].handler(for: request.method)
                ?? (request.method == .HEAD ? routes[index].handler(for: .GET) : nil) {
                handler.chain.respond(to: request, context: context, completion: completion)
                return
            } else {
                let route = routes[index]
                let allowed = route.handlers.keys.map(\.description).sorted().joined(separator: ", ")
                endpoint = FixedResponder(response: Router.errorResponse(.methodNotAllowed,
                    "method \(request.method) is not allowed on \(route.template); allowed: \(allowed)",
                    headers: ["Allow": allowed]))
            }
        } else {
            context.route = Router.unmatchedRoute
            endpoint = FixedResponder(response: Router.errorResponse(.notFound, "no route for path '\(request.path)'"))
        }
        Router.chain(middleware, around: endpoint).respond(to: request, context: context, completion: completion)
    }

    /// `middleware` (first outermost) wrapped around `endpoint`.
    static func chain(_ middleware: [any HTTPMiddleware], around endpoint: any HTTPResponder) -> any HTTPResponder {
        var next = endpoint
        for layer in middleware.reversed() { next = ChainLink(middleware: layer, next: next) }
        return next
    }

    /// A JSON `{"error": "..."}` response.
    public static func errorResponse(_ status: HTTPStatus, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        var body: [UInt8] = Array("{\"error\":".utf8)
        body.appendJSONString(message)
        body.append(UInt8(ascii: "}"))
        return HTTPResponse(status: status, headers: h, body: body)
    }
}

/// A registered handler as the innermost link of a chain.
private final class HandlerResponder: HTTPResponder {
    let handler: Router.DeferredHandler
    init(handler: @escaping Router.DeferredHandler) { self.handler = handler }
    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        handler(request, context, completion)
    }
}

private struct FixedResponder: HTTPResponder {
    let response: HTTPResponse
    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        completion(response)
    }
}

/// One middleware wrapping the rest of the chain; built once per route and method (classes, so that
/// passing one on as `any HTTPResponder` allocates nothing).
private final class ChainLink: HTTPResponder {
    let middleware: any HTTPMiddleware
    let next: any HTTPResponder

    init(middleware: any HTTPMiddleware, next: any HTTPResponder) {
        self.middleware = middleware
        self.next = next
    }

    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        middleware.handle(request, context: context, next: next, completion: completion)
    }
}
