/// Why a batch was formed.
public enum BatchTrigger: String, Sendable, CaseIterable {
    /// The waiting rows reached the batch size.
    case full
    /// The oldest request waited the maximum queue delay.
    case delay
    /// The server is draining and runs what it holds.
    case drain
}

/// The batching decisions of one model's queue, as a plain state machine with the time passed in.
///
/// Requests are kept in arrival order. Only requests whose non-batch dimensions agree (the same
/// `signature`) share a batch; a batch never holds more than `maxBatchRows` rows, except a single
/// request that alone is larger (it runs by itself).
public struct BatchQueue<Item> {
    public struct Entry {
        public let item: Item
        public let rows: Int
        public let signature: [Int]
        public let enqueuedAt: UInt64
        /// Monotonic nanoseconds after which the entry must not be computed; nil for none.
        public let deadline: UInt64?
    }

    public enum EnqueueResult: Equatable {
        case accepted
        case full
        case draining
    }

    public let maxBatchRows: Int
    public let maxDelayNanos: UInt64
    public let capacity: Int
    public private(set) var entries: [Entry] = []
    public private(set) var isDraining = false

    public init(maxBatchRows: Int, maxDelayNanos: UInt64, capacity: Int) {
        precondition(maxBatchRows >= 1 && capacity >= 1)
        self.maxBatchRows = maxBatchRows
        self.maxDelayNanos = maxDelayNanos
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// Adds a request unless the queue is full or draining. Never blocks.
    public mutating func enqueue(_ item: Item, rows: Int, signature: [Int], now: UInt64, deadline: UInt64?) -> EnqueueResult {
        if isDraining { return .draining }
        if entries.count >= capacity { return .full }
        entries.append(Entry(item: item, rows: rows, signature: signature, enqueuedAt: now, deadline: deadline))
        return .accepted
    }

    /// From now on the queue accepts nothing and every held request is released without waiting.
    public mutating func startDraining() { isDraining = true }

    /// Removes and returns the entries for which `shouldRemove` holds (expired or cancelled).
    public mutating func remove(where shouldRemove: (Entry) -> Bool) -> [Entry] {
        var removed: [Entry] = []
        entries.removeAll { entry in
            if shouldRemove(entry) {
                removed.append(entry)
                return true
            }
            return false
        }
        return removed
    }

    /// Removes the entries whose deadline has passed at `now`.
    public mutating func removeExpired(now: UInt64) -> [Entry] {
        remove { entry in entry.deadline.map { $0 <= now } ?? false }
    }

    /// Takes the next batch that is ready at `now`, oldest group first, or nil.
    public mutating func nextBatch(now: UInt64) -> (entries: [Entry], trigger: BatchTrigger)? {
        var considered = Set<[Int]>()
        for head in entries where !considered.contains(head.signature) {
            considered.insert(head.signature)
            var picked: [Int] = []
            var rows = 0
            var full = false
            for (index, entry) in entries.enumerated() where entry.signature == head.signature {
                if rows + entry.rows > maxBatchRows {
                    // A lone oversized request still runs, by itself.
                    if picked.isEmpty { picked.append(index); rows = entry.rows }
                    full = true
                    break
                }
                picked.append(index)
                rows += entry.rows
                if rows == maxBatchRows { full = true; break }
            }
            let trigger: BatchTrigger
            if full {
                trigger = .full
            } else if now >= head.enqueuedAt &+ maxDelayNanos {
                trigger = .delay
            } else if isDraining {
                trigger = .drain
            } else {
                continue
            }
            let batch = picked.map { entries[$0] }
            for index in picked.reversed() { entries.remove(at: index) }
            return (batch, trigger)
        }
        return nil
    }

    /// When the oldest request's delay ends, which forms a batch without any new arrival; nil when
    /// the queue is empty. (The oldest request heads its group, and later heads are due later.)
    public func nextBatchDue() -> UInt64? {
        entries.first.map { $0.enqueuedAt &+ maxDelayNanos }
    }

    /// The earliest deadline of a queued request, if any has one.
    public func earliestDeadline() -> UInt64? {
        entries.lazy.compactMap(\.deadline).min()
    }
}
