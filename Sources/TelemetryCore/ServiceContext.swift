/// The context that flows with a unit of work: the current span (or a remote parent).
///
/// It is a task-local value, so in async code it follows child tasks automatically. Code on
/// plain threads (event-loop callbacks, batch worker threads) binds it explicitly around
/// the work; Swift stores task-locals bound outside any task in a per-thread slot, so the
/// value is visible to everything the closure calls on that thread and is unbound when the
/// closure returns:
///
///     ServiceContext.withValue(request.context) {
///         logger.info("request completed")     // carries trace_id / span_id
///     }
///
/// Work handed to another thread must carry the context along (capture `ServiceContext.current`
/// and bind it again there).
public struct ServiceContext: Sendable {
    /// The active local span, if any: always a `Span`. Tracing, which defines `Span`, reads and
    /// writes it as `span` (and `init(span:)`); it is stored untyped here so that logging and
    /// metrics, which only need `traceContext`, do not depend on tracing.
    package var spanObject: (any AnyObject & Sendable)?
    /// The active trace context: the local span's, or a remote parent's.
    public var traceContext: TraceContext?

    public init(traceContext: TraceContext? = nil) {
        self.spanObject = nil
        self.traceContext = traceContext
    }

    /// A context carrying a span (`Span`) whose identity is `traceContext`.
    package init(spanObject: any AnyObject & Sendable, traceContext: TraceContext) {
        self.spanObject = spanObject
        self.traceContext = traceContext
    }

    /// An empty context (no trace).
    public static var topLevel: ServiceContext { ServiceContext() }

    @TaskLocal static var taskLocal: ServiceContext?

    /// The context bound to the current task or thread.
    public static var current: ServiceContext? { taskLocal }

    /// Binds `value` for the duration of `operation` on the current thread or task.
    @discardableResult
    public static func withValue<T>(_ value: ServiceContext?, operation: () throws -> T) rethrows -> T {
        try $taskLocal.withValue(value, operation: operation)
    }

    /// Binds `value` for the duration of `operation` and its child tasks.
    @discardableResult
    public static func withValue<T>(_ value: ServiceContext?, isolation: isolated (any Actor)? = #isolation,
                                    operation: () async throws -> T) async rethrows -> T {
        try await $taskLocal.withValue(value, operation: operation, isolation: isolation)
    }
}
