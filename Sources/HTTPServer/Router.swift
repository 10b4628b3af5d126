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
        var handlers: [HTTPMethod: DeferredHandler]
    }

    private var routes: [Route] = []
    private var middleware: [any HTTPMiddleware] = []
    /// Route label used when nothing matches, so metrics stay bounded.
    public static let unmatchedRoute = "unmatched"

    public init() {}

    /// Appends a middleware; the first added is the outermost.
    public func add(middleware: any HTTPMiddleware) { self.middleware.append(middleware) }

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
            routes[index].handlers[method] = handler
        } else {
            routes.append(Route(template: template, segments: segments, handlers: [method: handler]))
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

    /// The template and parameters matching `path`, or nil.
    func match(_ path: String) -> (Route, [String: String])? {
        let parts = Router.split(path)
        candidates: for route in routes where route.segments.count == parts.count {
            var parameters: [String: String] = [:]
            for (segment, part) in zip(route.segments, parts) {
                switch segment {
                case .literal(let text):
                    if text != part { continue candidates }
                case .parameter(let name):
                    if part.isEmpty { continue candidates }
                    parameters[name] = String(part)
                }
            }
            return (route, parameters)
        }
        return nil
    }

    static func split(_ path: String) -> [Substring] {
        var trimmed = Substring(path)
        while trimmed.hasSuffix("/") && trimmed.count > 1 { trimmed = trimmed.dropLast() }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        var context = context
        let endpoint: any HTTPResponder
        if let (route, parameters) = match(request.path) {
            context.route = route.template
            context.parameters = parameters
            let method = request.method == .HEAD && route.handlers[.HEAD] == nil ? HTTPMethod.GET : request.method
            if let handler = route.handlers[method] {
                endpoint = HandlerResponder(handler: handler)
            } else {
                let allowed = route.handlers.keys.map(\.description).sorted().joined(separator: ", ")
                endpoint = FixedResponder(response: Router.errorResponse(.methodNotAllowed,
                    "method \(request.method) is not allowed on \(route.template); allowed: \(allowed)",
                    headers: ["Allow": allowed]))
            }
        } else {
            context.route = Router.unmatchedRoute
            endpoint = FixedResponder(response: Router.errorResponse(.notFound, "no route for path '\(request.path)'"))
        }
        Chain(middleware: middleware[...], endpoint: endpoint).respond(to: request, context: context, completion: completion)
    }

    /// A JSON `{"error": "..."}` response.
    public static func errorResponse(_ status: HTTPStatus, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: h, body: Array("{\"error\":\(jsonQuoted(message))}".utf8))
    }
}

/// A JSON string literal for `text`, with quotes, backslashes and control characters escaped.
public func jsonQuoted(_ text: String) -> String {
    var out = "\""
    out.reserveCapacity(text.utf8.count + 2)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

private struct HandlerResponder: HTTPResponder {
    let handler: Router.DeferredHandler
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

private struct Chain: HTTPResponder {
    let middleware: ArraySlice<any HTTPMiddleware>
    let endpoint: any HTTPResponder

    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        guard let first = middleware.first else {
            endpoint.respond(to: request, context: context, completion: completion)
            return
        }
        first.handle(request, context: context, next: Chain(middleware: middleware.dropFirst(), endpoint: endpoint),
                     completion: completion)
    }
}
