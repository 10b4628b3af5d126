#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A small persistent pool of threads for splitting one operator's work.
///
/// `parallelFor` hands out indices through one atomic ticket (generation in the high 32 bits, next
/// index in the low 32). The caller works too and waits only for indices that were actually claimed,
/// so a worker that is slow to wake (the machine is shared) never delays the call. If another call is
/// already using the pool (a concurrent `run`), the caller does all the work itself.
///
/// Workers hold the shared `Core`, not the pool, so dropping the pool stops and joins them.
final class ThreadPool: Sendable {
    private let core: Core

    /// Threads taking part in a `parallelFor`, the caller included.
    var threadCount: Int { core.threadCount }

    init(threads count: Int) { core = Core(threads: count) }

    deinit { core.stop() }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the pool; returns when all are done.
    func parallelFor(_ count: Int, _ body: (Int) -> Void) { core.parallelFor(count, body) }
}

private final class Core: @unchecked Sendable {
    // Safe: `job` is written only by the thread that holds `busy`, while no index is claimed, and read
    // by a worker only after it has claimed an index of the current generation (so the owner is still
    // waiting for that index to complete and cannot change it).
    private var job: ((Int) -> Void)?
    private let ticket = Atomic<UInt64>(0)
    private let jobCount = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let published = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    // Heap-allocated so their addresses never move.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []
    private var generation: UInt64 = 0

    let threadCount: Int

    init(threads count: Int) {
        threadCount = max(1, count)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 1..<threadCount {
            let retained = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                Unmanaged<Core>.fromOpaque(raw!).takeRetainedValue().workerLoop()
                return nil
            }, retained.toOpaque())
            if rc == 0 { threads.append(thread) } else { retained.release() }
        }
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Wakes every worker with the stop flag set and waits for them to exit.
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        published.wrappingAdd(1, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
    }

    func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, count < Int(Int32.max), !threads.isEmpty,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            jobCount.store(count, ordering: .sequentiallyConsistent)
            completed.store(0, ordering: .sequentiallyConsistent)
            generation &+= 1
            ticket.store(generation << 32, ordering: .sequentiallyConsistent)
            pthread_mutex_lock(mutex)
            published.wrappingAdd(1, ordering: .sequentiallyConsistent)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            drain()
            var spins = 0
            while completed.load(ordering: .acquiring) < count {
                spins += 1
                if spins > 100 { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs indices of the current generation until none are left.
    private func drain() {
        while true {
            let t = ticket.load(ordering: .sequentiallyConsistent)
            let index = Int(t & 0xFFFF_FFFF)
            guard index < jobCount.load(ordering: .sequentiallyConsistent) else { return }
            guard ticket.compareExchange(expected: t, desired: t + 1, ordering: .sequentiallyConsistent).exchanged else { continue }
            job!(index)
            completed.wrappingAdd(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            // Spin briefly: operators tend to follow each other closely.
            var spins = 0
            while published.load(ordering: .acquiring) == seen, spins < 20_000 { spins += 1 }
            if published.load(ordering: .acquiring) == seen {
                pthread_mutex_lock(mutex)
                while published.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                pthread_mutex_unlock(mutex)
            }
            seen = published.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            drain()
        }
    }
}
