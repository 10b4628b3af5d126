import InferenceCore
import Synchronization

/// Forwards batcher events to an observer installed after the batchers exist (the metrics need the
/// list of loaded models, and the models' batchers need an observer when they are made).
///
/// Events arrive for every batch from several threads, so the installed observer is
/// read with one atomic load, not a lock.
final class ObserverProxy: BatcherObserver, @unchecked Sendable {
    // @unchecked: `installed` only ever holds 0 or the address of a box that `owned` keeps alive
    // for the proxy's lifetime (boxes are never removed), and is accessed atomically.
    private final class Box: Sendable {
        let observer: any BatcherObserver
        init(_ observer: any BatcherObserver) { self.observer = observer }
    }

    private let owned = Mutex<[Box]>([])
    private let installed = Atomic<UInt>(0)

    func install(_ observer: any BatcherObserver) {
        let box = Box(observer)
        owned.withLock { $0.append(box) }
        installed.store(UInt(bitPattern: Unmanaged.passUnretained(box).toOpaque()), ordering: .releasing)
    }

    @inline(__always)
    private func withCurrent<T>(_ body: (any BatcherObserver) -> T?) -> T? {
        let bits = installed.load(ordering: .acquiring)
        guard bits != 0 else { return nil }
        return Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef { body($0.observer) }
    }

    func batchStarted(model: String, version: String, batchID: UInt64, trigger: BatchTrigger,
                      members: [BatchRecord.Member], startedAt: UInt64) -> (any AnyObject & Sendable)? {
        withCurrent {
            $0.batchStarted(model: model, version: version, batchID: batchID, trigger: trigger, members: members,
                            startedAt: startedAt)
        } ?? nil
    }

    func batchFinished(_ record: BatchRecord) { _ = withCurrent { $0.batchFinished(record) } }
}
