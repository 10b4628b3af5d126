#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Telemetry

/// An HTTP request method. Unknown tokens are kept verbatim in `.other`.
public enum HTTPMethod: Sendable, Hashable, CustomStringConvertible {
    case GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH
    case other(String)

    public init(_ token: String) {
        switch token {
        case "GET": self = .GET
        case "HEAD": self = .HEAD
        case "POST": self = .POST
        case "PUT": self = .PUT
        case "DELETE": self = .DELETE
        case "OPTIONS": self = .OPTIONS
        case "PATCH": self = .PATCH
        default: self = .other(token)
        }
    }

    public var description: String {
        switch self {
        case .GET: "GET"
        case .HEAD: "HEAD"
        case .POST: "POST"
        case .PUT: "PUT"
        case .DELETE: "DELETE"
        case .OPTIONS: "OPTIONS"
        case .PATCH: "PATCH"
        case .other(let token): token
        }
    }
}

/// A response status code with its reason phrase.
public struct HTTPStatus: Sendable, Hashable, CustomStringConvertible {
    public let code: Int
    public let reason: String

    public init(code: Int, reason: String? = nil) {
        self.code = code
        self.reason = reason ?? HTTPStatus.standardReason(code)
    }

    public var description: String { "\(code) \(reason)" }

    public static let ok = HTTPStatus(code: 200)
    public static let noContent = HTTPStatus(code: 204)
    public static let badRequest = HTTPStatus(code: 400)
    public static let notFound = HTTPStatus(code: 404)
    public static let methodNotAllowed = HTTPStatus(code: 405)
    public static let requestTimeout = HTTPStatus(code: 408)
    public static let payloadTooLarge = HTTPStatus(code: 413)
    public static let unsupportedMediaType = HTTPStatus(code: 415)
    public static let unprocessableContent = HTTPStatus(code: 422)
    public static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431)
    public static let internalServerError = HTTPStatus(code: 500)
    public static let notImplemented = HTTPStatus(code: 501)
    public static let serviceUnavailable = HTTPStatus(code: 503)
    public static let gatewayTimeout = HTTPStatus(code: 504)
    public static let httpVersionNotSupported = HTTPStatus(code: 505)

    static func standardReason(_ code: Int) -> String {
        switch code {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 499: "Client Closed Request"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(code)"
        }
    }
}

/// Header fields in arrival order; lookups ignore ASCII case.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// One field. A struct rather than a `(name:value:)` tuple: an array of tuples is copied and
    /// freed through the runtime's generic tuple witnesses, several times slower (every request's
    /// headers are freed once it is answered).
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public internal(set) var fields: [Field]

    public init() { fields = [] }
    public init(_ fields: [(String, String)]) { self.fields = fields.map { Field(name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) {
        // `[:]` is every request's and response's default: skip building an array for it.
        if elements.isEmpty { self.init() } else { self.init(elements) }
    }

    public mutating func add(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    /// Replaces every field called `name` with one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(name: String) {
        // Mutating only when something matches: `removeAll(where:)` copies a shared array even when
        // it removes nothing (a response's headers are usually shared with the copy it was made from).
        guard firstIndex(of: name) != nil else { return }
        fields.removeAll { HTTPHeaders.equalsIgnoringCase($0.name, name) }
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        firstIndex(of: name).map { fields[$0].value }
    }

    /// Where the first field called `name` is. Fields of another length are passed over without
    /// comparing their bytes (a string knows its UTF-8 length).
    @inline(__always)
    func firstIndex(of name: String) -> Int? {
        let length = name.utf8.count
        for i in fields.indices where fields[i].name.utf8.count == length {
            if HTTPHeaders.equalsIgnoringCase(fields[i].name, name) { return i }
        }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { HTTPHeaders.equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { firstIndex(of: name) != nil }

    public var count: Int { fields.count }

    /// The fields in order, as `(name, value)` pairs.
    public struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[Field]>
        public mutating func next() -> (name: String, value: String)? { base.next().map { ($0.name, $0.value) } }
    }

    public func makeIterator() -> Iterator { Iterator(base: fields.makeIterator()) }

    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        // Native and small strings are contiguous UTF-8: compare the buffers directly.
        let fast = x.withContiguousStorageIfAvailable { p in
            y.withContiguousStorageIfAvailable { q in equalsIgnoringCase(p, q) }
        }
        if let fast, let result = fast { return result }
        for (p, q) in zip(x, y) where p != q {
            let lp = p >= 65 && p <= 90 ? p | 0x20 : p
            let lq = q >= 65 && q <= 90 ? q | 0x20 : q
            if lp != lq { return false }
        }
        return true
    }

    @inline(__always)
    static func equalsIgnoringCase(_ p: UnsafeBufferPointer<UInt8>, _ q: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<p.count where p[i] != q[i] {
            let lp = p[i] >= 65 && p[i] <= 90 ? p[i] | 0x20 : p[i]
            let lq = q[i] >= 65 && q[i] <= 90 ? q[i] | 0x20 : q[i]
            if lp != lq { return false }
        }
        return true
    }
}

/// A complete, parsed HTTP/1.1 request.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The request target's path, percent-decoding not applied (e.g. `/v2/models/digits/infer`).
    public var path: String
    /// The query string after `?`, without the `?`, or nil.
    public var query: String?
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    public var minorVersion: Int

    public init(method: HTTPMethod, path: String, query: String? = nil, headers: HTTPHeaders = [:],
                body: [UInt8] = [], minorVersion: Int = 1) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.minorVersion = minorVersion
    }
}

/// A response to write. The server adds `Date`, `Content-Length` and `Connection`.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The trace context sent back to the client: when set, the server writes it as the
    /// `traceparent` header (and `tracestate` when it has entries) straight from the ids,
    /// replacing any such header in `headers`.
    public var traceContext: TraceContext?

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a UTF-8 body and its content type.
    public init(status: HTTPStatus = .ok, contentType: String, body: String, headers: HTTPHeaders = [:]) {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: contentType)
        // A native or small String's UTF-8 is contiguous: one copy instead of an element-wise one.
        let bytes = body.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(body.utf8)
        self.init(status: status, headers: h, body: bytes)
    }
}

/// Set once when the client goes away (or the server gives up) before a response was written.
/// Work still queued for the request checks it and skips computing.
public final class CancellationToken: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let handlers = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// Marks the request cancelled and runs the registered handlers once.
    public func cancel() {
        guard cancelled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        let toRun = handlers.withLock { h -> [@Sendable () -> Void] in
            let list = h
            h.removeAll()
            return list
        }
        for handler in toRun { handler() }
    }

    /// Prepares a token that no one else references for another request on the same connection;
    /// false if it was cancelled. Handlers registered but never run are dropped.
    func recycle() -> Bool {
        guard !isCancelled else { return false }
        handlers.withLock { if !$0.isEmpty { $0.removeAll() } }
        return true
    }

    /// Runs `handler` when the request is cancelled (at once if it already is).
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = handlers.withLock { h -> Bool in
            if cancelled.load(ordering: .acquiring) { return true }
            h.append(handler)
            return false
        }
        if runNow { handler() }
    }
}

/// Per-request facts the server and router know, handed down the middleware chain.
///
/// A value type whose fields live in one copy-on-write box: the chain copies the context several
/// times per request (into each middleware's completion), and a copy is then a single retain.
public struct RequestContext: Sendable {
    final class Storage: @unchecked Sendable {
        // Why @unchecked Sendable is safe: a Storage is mutated only through `RequestContext.unique()`,
        // that is while the one context holding it references it uniquely; shared ones are read-only.
        var requestID: RequestID
        var receivedAtNanos: UInt64
        var remoteAddress: String
        var localPort: Int
        var route: String
        /// The template's `{name}` values in path order: a route has one or two, found by a scan
        /// (no hashing, no dictionary per request).
        var parameters: [(name: String, value: String)]
        var cancellation: CancellationToken
        var values: [String: any Sendable]
        /// Written once through `RequestContext.bind(traceContext:span:)`, before the request goes further in.
        var traceContext: TraceContext?
        var span: Span?

        init(requestID: RequestID, receivedAtNanos: UInt64, remoteAddress: String, localPort: Int, route: String,
             parameters: [(name: String, value: String)], cancellation: CancellationToken, values: [String: any Sendable]) {
            self.requestID = requestID
            self.receivedAtNanos = receivedAtNanos
            self.remoteAddress = remoteAddress
            self.localPort = localPort
            self.route = route
            self.parameters = parameters
            self.cancellation = cancellation
            self.values = values
        }

        func copy() -> Storage {
            let copy = Storage(requestID: requestID, receivedAtNanos: receivedAtNanos, remoteAddress: remoteAddress,
                               localPort: localPort, route: route, parameters: parameters, cancellation: cancellation,
                               values: values)
            copy.traceContext = traceContext
            copy.span = span
            return copy
        }
    }

    private var storage: Storage

    /// The box, copied first if another context shares it.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// A process-unique id for log correlation (also sent back as `X-Request-Id` unless the client sent one).
    public var requestID: String {
        get { storage.requestID.description }
        set { unique().requestID = .given(newValue) }
    }
    /// Monotonic nanoseconds when the request head was complete.
    public var receivedAtNanos: UInt64 {
        get { storage.receivedAtNanos }
        set { unique().receivedAtNanos = newValue }
    }
    public var remoteAddress: String {
        get { storage.remoteAddress }
        set { unique().remoteAddress = newValue }
    }
    public var localPort: Int {
        get { storage.localPort }
        set { unique().localPort = newValue }
    }
    /// The matched route template (`/v2/models/{model}/infer`), `unmatched` when none matched.
    public var route: String {
        get { storage.route }
        set { unique().route = newValue }
    }
    /// Values of the template's `{name}` segments (`parameter(_:)` finds one without building
    /// this dictionary).
    public var parameters: [String: String] {
        get { Dictionary(storage.parameters, uniquingKeysWith: { $1 }) }
        set { unique().parameters = RequestContext.pairs(newValue) }
    }

    /// The value of the template's `{name}` segment, if the route has one.
    public func parameter(_ name: String) -> String? {
        for entry in storage.parameters where entry.name == name { return entry.value }
        return nil
    }

    /// A dictionary's entries as pairs, by name (nothing allocated for none: the server makes
    /// every context with none and the router sets them).
    private static func pairs(_ parameters: [String: String]) -> [(name: String, value: String)] {
        parameters.isEmpty ? [] : parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Sets the matched route's parameters, in path order.
    mutating func setParameters(_ parameters: [(name: String, value: String)]) {
        unique().parameters = parameters
    }
    /// Cancelled when the client disconnects before its response is written.
    public var cancellation: CancellationToken {
        get { storage.cancellation }
        set { unique().cancellation = newValue }
    }
    /// Free-form values middleware hands to handlers (the server span has its own slot, `span`).
    public var values: [String: any Sendable] {
        get { storage.values }
        _modify {
            let box = unique()
            yield &box.values
        }
    }

    /// The request's trace identity (its server span's ids, sampled or not), bound by
    /// `TracingMiddleware`; nil without tracing.
    public var traceContext: TraceContext? { storage.traceContext }

    /// The request's server span when it is recorded (sampled), bound by `TracingMiddleware`;
    /// nil otherwise: an unsampled request has ids (`traceContext`) but no span object.
    public var span: Span? { storage.span }

    /// Binds the request's trace identity and, when it is recorded, its server span.
    /// Request-scoped, like `cancellation`: the one slot is shared by every copy of this request's
    /// context, so middleware further out reads it in its completion without the context being
    /// copied. Bind it before handing the context on: the hand-off to another thread orders the
    /// write before every read there.
    public func bind(traceContext: TraceContext, span: Span?) {
        storage.traceContext = traceContext
        storage.span = span
    }

    /// Binds a server span (and its ids as the request's `traceContext`).
    public func bind(span: Span) {
        bind(traceContext: span.traceContext, span: span)
    }

    public init(requestID: String, receivedAtNanos: UInt64, remoteAddress: String = "", localPort: Int = 0,
                route: String = "unmatched", parameters: [String: String] = [:],
                cancellation: CancellationToken = CancellationToken(), values: [String: any Sendable] = [:]) {
        storage = Storage(requestID: .given(requestID), receivedAtNanos: receivedAtNanos, remoteAddress: remoteAddress,
                          localPort: localPort, route: route,
                          parameters: RequestContext.pairs(parameters),
                          cancellation: cancellation, values: values)
    }

    /// The server's context for a request it read.
    init(requestID: RequestID, receivedAtNanos: UInt64, remoteAddress: String, localPort: Int,
         cancellation: CancellationToken) {
        storage = Storage(requestID: requestID, receivedAtNanos: receivedAtNanos, remoteAddress: remoteAddress,
                          localPort: localPort, route: "unmatched", parameters: [],
                          cancellation: cancellation, values: [:])
    }
}

/// Receives the response exactly once; callable from any thread.
///
/// The response is passed owned (`consuming`): a middleware that changes it before passing it on
/// declares its closure's parameter `consuming` (`{ (response: consuming HTTPResponse) in ... }`)
/// and changes it in place; `var response = response` or capturing it in another closure copies it
/// (a retain of each of its buffers).
public typealias ResponseCompletion = @Sendable (consuming HTTPResponse) -> Void

/// Answers requests. The server calls `respond` on an event-loop thread: it must return quickly and
/// move slow work to other threads, calling `completion` from there when the response is ready.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion)
}

/// Wraps the rest of the chain: `handle(request, context, next)`, as in Hummingbird, in completion style.
public protocol HTTPMiddleware: Sendable {
    func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                completion: @escaping ResponseCompletion)
}

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC).
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
