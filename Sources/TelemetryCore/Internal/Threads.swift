#if canImport(Glibc)
import Glibc
import CLinux
#endif

/// The most bytes of a thread's name the kernel keeps (`TASK_COMM_LEN` less its NUL).
package let maxThreadNameBytes = 15

/// Names the calling thread, as `top -H`, `ps -L` and profilers show it (`/proc/…/task/…/comm`):
/// the first `maxThreadNameBytes` bytes of `name`.
package func setCurrentThreadName(_ name: String) {
    let bytes = name.utf8.prefix(maxThreadNameBytes).map { CChar(bitPattern: $0) } + [0]
    _ = pthread_setname_np(pthread_self(), bytes)
}

/// Starts a detached POSIX thread named `name` (see `setCurrentThreadName`) running `body`.
/// Background writers and exporters use plain threads so that blocking I/O never occupies a
/// Swift concurrency or event-loop thread.
package func spawnDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box {
        setCurrentThreadName(name)
        body()
    }).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}

/// A counting POSIX semaphore. `signal` never blocks and is cheap when nobody waits
/// (glibc only enters the kernel when there is a waiter).
package final class Semaphore: @unchecked Sendable {
    // Safe to share: the sem_t lives at a fixed heap address for the object's lifetime and
    // sem_post / sem_wait / sem_timedwait are thread-safe by POSIX.
    private let sem: UnsafeMutablePointer<sem_t>

    package init(value: UInt32 = 0) {
        sem = .allocate(capacity: 1)
        sem_init(sem, 0, value)
    }

    deinit {
        sem_destroy(sem)
        sem.deallocate()
    }

    package func signal() { sem_post(sem) }

    package func wait() {
        while sem_wait(sem) != 0 && errno == EINTR {}
    }

    /// Waits at most `nanoseconds`; returns false on timeout.
    package func wait(timeoutNanoseconds nanoseconds: UInt64) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = UInt64(now.tv_nsec) + nanoseconds % 1_000_000_000
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        while true {
            if sem_timedwait(sem, &deadline) == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }
}

/// Sleeps the calling thread (only ever used on background threads).
package func sleepNanoseconds(_ nanoseconds: UInt64) {
    var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
