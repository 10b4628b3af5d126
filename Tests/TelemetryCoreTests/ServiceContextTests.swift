import Dispatch
import Foundation
import Testing
@testable import TelemetryCore

@Suite struct ServiceContextTests {
    static func context(_ spanID: UInt64) -> ServiceContext {
        ServiceContext(traceContext: TraceContext(traceID: TraceID(high: 1, low: 2), spanID: SpanID(spanID)))
    }

    /// Runs `body` on a new plain thread (outside any Swift task) and waits for it.
    static func onPlainThread(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.start()
        done.wait()
    }

    @Test func plainThreadsBindNestAndRestore() {
        ServiceContextTests.onPlainThread {
            #expect(ServiceContext.current == nil)
            ServiceContext.withValue(ServiceContextTests.context(1)) {
                #expect(ServiceContext.current?.traceContext?.spanID.value == 1)
                ServiceContext.withValue(ServiceContextTests.context(2)) {
                    #expect(ServiceContext.current?.traceContext?.spanID.value == 2)
                }
                ServiceContext.withValue(nil) { #expect(ServiceContext.current == nil) }
                #expect(ServiceContext.current?.traceContext?.spanID.value == 1)
            }
            #expect(ServiceContext.current == nil)
        }
    }

    @Test func restoredWhenTheOperationThrows() {
        struct Failure: Error {}
        ServiceContextTests.onPlainThread {
            #expect(throws: Failure.self) {
                try ServiceContext.withValue(ServiceContextTests.context(3)) { throw Failure() }
            }
            #expect(ServiceContext.current == nil)
        }
    }

    @Test func eachThreadSeesOnlyItsOwnBinding() {
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            ServiceContextTests.onPlainThread {
                ServiceContext.withValue(ServiceContextTests.context(UInt64(i + 10))) {
                    for _ in 0..<1000 {
                        #expect(ServiceContext.current?.traceContext?.spanID.value == UInt64(i + 10))
                    }
                }
            }
        }
    }

    @Test func asyncBindingsAreTaskLocalsThatChildTasksInherit() async {
        let seen = await ServiceContext.withValue(ServiceContextTests.context(4)) {
            await withTaskGroup(of: UInt64?.self) { group in
                group.addTask { ServiceContext.current?.traceContext?.spanID.value }
                return await group.next() ?? nil
            }
        }
        #expect(seen == 4)
        #expect(ServiceContext.current == nil)
    }

    @Test func synchronousBindingsInATaskOverrideItsTaskLocalForTheirOperationOnly() async {
        await ServiceContext.withValue(ServiceContextTests.context(6)) {
            ServiceContext.withValue(ServiceContextTests.context(5)) {
                #expect(ServiceContext.current?.traceContext?.spanID.value == 5)
            }
            ServiceContext.withValue(nil) { #expect(ServiceContext.current == nil) }
            #expect(ServiceContext.current?.traceContext?.spanID.value == 6)
            await Task.yield()  // may resume on another thread: still the task's own value
            #expect(ServiceContext.current?.traceContext?.spanID.value == 6)
        }
        #expect(ServiceContext.current == nil)
    }
}
