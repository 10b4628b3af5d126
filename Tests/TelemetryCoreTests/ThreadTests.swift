import Foundation
import Synchronization
import Testing
@testable import TelemetryCore

/// Background threads carry names the kernel shows (`top -H`, `ps -L`, profilers).
@Suite struct ThreadTests {
    /// The kernel's name of a thread started by `spawnDetachedThread(name:)`, read from inside it.
    func kernelName(spawnedAs name: String) -> String {
        let seen = Mutex<String?>(nil)
        let done = Semaphore()
        spawnDetachedThread(name: name) {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            seen.withLock { $0 = comm.trimmingCharacters(in: .newlines) }
            done.signal()
        }
        #expect(done.wait(timeoutNanoseconds: 5_000_000_000))
        return seen.withLock { $0 } ?? ""
    }

    @Test func spawnedThreadsAreNamed() {
        #expect(kernelName(spawnedAs: "pd-span-export") == "pd-span-export")
    }

    @Test func longNamesKeepTheirFirst15Bytes() {
        #expect(kernelName(spawnedAs: "pd-batch-a-long-model-name-0") == "pd-batch-a-long")
    }
}
