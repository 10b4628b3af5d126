import Synchronization

/// The process-wide metrics registry, chosen once at startup (as swift-metrics'
/// `MetricsSystem`). Handles created without an explicit `registry:` register here, so
/// bootstrap before creating them.
public enum MetricsSystem {
    private static let current = Mutex(MetricsRegistry())

    /// Replaces the process-wide registry.
    public static func bootstrap(_ registry: MetricsRegistry) {
        current.withLock { $0 = registry }
    }

    /// The process-wide registry.
    public static var registry: MetricsRegistry {
        current.withLock { $0 }
    }
}
