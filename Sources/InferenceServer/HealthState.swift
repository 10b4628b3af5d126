import Synchronization

/// Liveness and readiness, shared by the probes and the drain sequence.
public final class HealthState: Sendable {
    private let modelsLoaded = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)

    public init() {}

    /// Ready once models are loaded and until draining starts.
    public var isReady: Bool { modelsLoaded.load(ordering: .acquiring) && !draining.load(ordering: .acquiring) }
    public var isDraining: Bool { draining.load(ordering: .acquiring) }

    public func markModelsLoaded() { modelsLoaded.store(true, ordering: .releasing) }
    public func startDraining() { draining.store(true, ordering: .releasing) }
}
