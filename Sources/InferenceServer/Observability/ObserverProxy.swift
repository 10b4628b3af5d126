import InferenceCore
import Synchronization

/// Forwards batcher events to an observer installed after the batchers exist (the metrics need the
/// list of loaded models, and the models' batchers need an observer when they are made).
final class ObserverProxy: BatcherObserver, Sendable {
    private let target = Mutex<(any BatcherObserver)?>(nil)

    func install(_ observer: any BatcherObserver) { target.withLock { $0 = observer } }

    private var current: (any BatcherObserver)? { target.withLock { $0 } }

    func queueDepthChanged(model: String, version: String, depth: Int) {
        current?.queueDepthChanged(model: model, version: version, depth: depth)
    }

    func batchesInFlightChanged(model: String, version: String, count: Int) {
        current?.batchesInFlightChanged(model: model, version: version, count: count)
    }

    func batchStarted(model: String, version: String, batchID: UInt64, trigger: BatchTrigger,
                      members: [BatchRecord.Member]) -> (any Sendable)? {
        current?.batchStarted(model: model, version: version, batchID: batchID, trigger: trigger, members: members)
    }

    func batchFinished(_ record: BatchRecord) { current?.batchFinished(record) }
}
