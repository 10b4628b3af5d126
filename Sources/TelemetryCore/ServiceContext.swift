#if canImport(Glibc)
import Glibc
#endif

/// The context that flows with a unit of work: the current span (or a remote parent).
///
/// The async `withValue` binds it as a task-local value, so it follows child tasks. Code on
/// plain threads (event-loop callbacks, batch worker threads) binds it with the synchronous
/// `withValue`, in a per-thread slot: the value is visible to everything the closure calls
/// on that thread and is unbound when the closure returns:
///
///     ServiceContext.withValue(request.context) {
///         logger.info("request completed")     // carries trace_id / span_id
///     }
///
/// Work handed to another thread or task must carry the context along (capture
/// `ServiceContext.current` and bind it again there).
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

    /// The context bound by the innermost synchronous `withValue` on this thread, else the
    /// current task's (async `withValue`).
    public static var current: ServiceContext? {
        if let slot = ThreadSlot.existing, slot.isBound { return slot.value }
        return taskLocal
    }

    /// Binds `value` for the duration of `operation` on the calling thread. `operation` cannot
    /// suspend, so the binding is seen by exactly the code it runs, in or outside a task; tasks
    /// created inside it do not inherit it (bind it in them, or use the async `withValue`).
    @discardableResult
    public static func withValue<T>(_ value: ServiceContext?, operation: () throws -> T) rethrows -> T {
        // A swap in the thread's slot: a task-local bound outside a task would cost an
        // allocation per bind and a lookup per read, on every request.
        let slot = ThreadSlot.current
        let previous = slot.value, wasBound = slot.isBound
        slot.value = value
        slot.isBound = true
        defer {
            slot.value = previous
            slot.isBound = wasBound
        }
        return try operation()
    }

    /// Binds `value` for the duration of `operation` and its child tasks.
    @discardableResult
    public static func withValue<T>(_ value: ServiceContext?, isolation: isolated (any Actor)? = #isolation,
                                    operation: () async throws -> T) async rethrows -> T {
        try await $taskLocal.withValue(value, operation: operation, isolation: isolation)
    }
}

extension ServiceContext {
    /// A thread's synchronously bound context, reached through a POSIX thread-specific key and
    /// released when the thread exits.
    final class ThreadSlot {
        var value: ServiceContext?
        /// A `withValue` is running on this thread (`value` may be a bound nil).
        var isBound = false

        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            let status = pthread_key_create(&key) { pointer in
                if let pointer { Unmanaged<ThreadSlot>.fromOpaque(pointer).release() }
            }
            precondition(status == 0, "pthread_key_create failed: \(status)")
            return key
        }()

        /// The calling thread's slot if it has one (a thread that never bound a context has none).
        @inline(__always) static var existing: ThreadSlot? {
            guard let pointer = pthread_getspecific(key) else { return nil }
            return Unmanaged<ThreadSlot>.fromOpaque(pointer).takeUnretainedValue()
        }

        /// The calling thread's slot, made on first use.
        static var current: ThreadSlot {
            if let slot = existing { return slot }
            let slot = ThreadSlot()
            pthread_setspecific(key, Unmanaged.passRetained(slot).toOpaque())
            return slot
        }
    }
}
