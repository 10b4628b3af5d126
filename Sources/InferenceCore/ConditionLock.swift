#if canImport(Glibc)
import Glibc
#endif

/// A mutex with condition variables on the monotonic clock, for threads that wait for work with a
/// deadline (Synchronization has no condition variable).
final class ConditionLock: @unchecked Sendable {
    // Safe: the pthread objects are allocated once, never moved, and used only through pthread calls.

    /// One condition waited on under this lock.
    final class Condition: @unchecked Sendable {
        // Safe: as above; only used through pthread calls with the owning lock's mutex.
        let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            var attr = pthread_condattr_t()
            pthread_condattr_init(&attr)
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
            pthread_cond_init(cond, &attr)
            pthread_condattr_destroy(&attr)
        }

        deinit {
            pthread_cond_destroy(cond)
            cond.deallocate()
        }

        func signal() { pthread_cond_signal(cond) }
        func broadcast() { pthread_cond_broadcast(cond) }
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits (lock held) on `condition` until signalled or until the monotonic time `deadline` in
    /// nanoseconds; nil waits indefinitely.
    func wait(_ condition: Condition, until deadline: UInt64?) {
        guard let deadline else {
            pthread_cond_wait(condition.cond, mutex)
            return
        }
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition.cond, mutex, &ts)
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
