import TelemetryCore

/// Head sampling: decides when a span starts whether its trace is recorded and exported.
public indirect enum Sampler: Sendable, Hashable, CustomStringConvertible {
    /// Records every span.
    case alwaysOn
    /// Records nothing (ids are still generated and propagated).
    case alwaysOff
    /// Records a fixed share of traces, decided from the trace id alone so every service
    /// with the same ratio agrees (OpenTelemetry `TraceIdRatioBased`).
    case traceIDRatio(Double)
    /// Follows the parent's sampled flag; `root` decides for new traces.
    case parentBased(root: Sampler, remoteParentSampled: Sampler = .alwaysOn,
                     remoteParentNotSampled: Sampler = .alwaysOff,
                     localParentSampled: Sampler = .alwaysOn,
                     localParentNotSampled: Sampler = .alwaysOff)

    /// Whether a span in `traceID` with `parent` is sampled.
    public func shouldSample(parent: TraceContext?, traceID: TraceID) -> Bool {
        switch self {
        case .alwaysOn:
            return true
        case .alwaysOff:
            return false
        case .traceIDRatio(let ratio):
            // OpenTelemetry trace SDK, TraceIdRatioBased: randomness R is the low 56 bits of
            // the trace id, rejection threshold T = (1 - ratio) * 2^56; sample when R >= T.
            guard let threshold = Sampler.threshold(ratio: ratio) else { return false }
            return traceID.low & Sampler.randomnessMask >= threshold
        case .parentBased(let root, let remoteSampled, let remoteNotSampled, let localSampled, let localNotSampled):
            guard let parent else { return root.shouldSample(parent: nil, traceID: traceID) }
            let delegate = switch (parent.isRemote, parent.isSampled) {
            case (true, true): remoteSampled
            case (true, false): remoteNotSampled
            case (false, true): localSampled
            case (false, false): localNotSampled
            }
            return delegate.shouldSample(parent: parent, traceID: traceID)
        }
    }

    static let randomnessMask: UInt64 = (1 << 56) - 1

    /// T for a ratio, or nil when nothing is sampled (ratio below 2^-56).
    static func threshold(ratio: Double) -> UInt64? {
        guard ratio.isFinite, ratio > 0 else { return nil }
        if ratio >= 1 { return 0 }
        let accepted = (ratio * 0x1p56).rounded()  // exact scaling, then round to 56 bits
        guard accepted >= 1 else { return nil }
        return (1 << 56) - UInt64(accepted)
    }

    /// The description OpenTelemetry specifies (`AlwaysOnSampler`, `TraceIdRatioBased{0.25}`, …).
    public var description: String {
        switch self {
        case .alwaysOn: "AlwaysOnSampler"
        case .alwaysOff: "AlwaysOffSampler"
        case .traceIDRatio(let ratio): "TraceIdRatioBased{\(ratio)}"
        case .parentBased(let root, let rs, let rns, let ls, let lns):
            "ParentBased{root=\(root),remoteParentSampled=\(rs),remoteParentNotSampled=\(rns),localParentSampled=\(ls),localParentNotSampled=\(lns)}"
        }
    }

    /// The sampler named by `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`; nil for an
    /// unknown name or an unusable ratio. The default ratio is 1.0.
    public init?(environmentName name: String, argument: String?) {
        func ratio() -> Double? {
            guard let argument, !argument.isEmpty else { return 1.0 }
            guard let value = Double(argument.trimmingSpaces), value >= 0, value <= 1 else { return nil }
            return value
        }
        switch name.trimmingSpaces.lowercased() {
        case "always_on": self = .alwaysOn
        case "always_off": self = .alwaysOff
        case "traceidratio":
            guard let r = ratio() else { return nil }
            self = .traceIDRatio(r)
        case "parentbased_always_on": self = .parentBased(root: .alwaysOn)
        case "parentbased_always_off": self = .parentBased(root: .alwaysOff)
        case "parentbased_traceidratio":
            guard let r = ratio() else { return nil }
            self = .parentBased(root: .traceIDRatio(r))
        default: return nil
        }
    }
}
