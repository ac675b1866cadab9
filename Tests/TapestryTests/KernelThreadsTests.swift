import Foundation
import Synchronization
import Testing
@testable import Tapestry

/// `KernelThreads`, the polling workers Tapestry's kernels run on: every item of every
/// job runs exactly once, items run at the same time on different threads, a job started
/// from inside a job still runs, and sleeping workers wake for a job.
@Suite struct KernelThreadsTests {
    /// Waits up to 5 s for `condition`; false if it never held.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if condition() { return true }
            usleep(100)
        }
        return condition()
    }

    /// 3000 jobs back to back, of 1 to 40 items, each item adding its job's number to its
    /// own slot: a slot run twice, skipped, or run for another job shows in the sums.
    @Test func everyItemRunsOnceInEveryJob() {
        let threads = KernelThreads(workers: 2, pollSeconds: 2e-4)
        defer { threads.stop() }
        let slots = Mutex([Int](repeating: 0, count: 40))
        var expected = [Int](repeating: 0, count: 40)
        for job in 1...3000 {
            let iterations = job % 40 + 1
            #expect(threads.run(iterations) { item in slots.withLock { $0[item] += job } })
            for item in 0..<iterations { expected[item] += job }
        }
        #expect(slots.withLock { $0 } == expected)
    }

    /// Two items that each wait for the other to start finish only if two threads run them.
    @Test func itemsRunOnTwoThreadsAtOnce() {
        let threads = KernelThreads(workers: 1, pollSeconds: 2e-4)
        defer { threads.stop() }
        let started = Mutex([false, false]), sawTheOther = Mutex([false, false])
        #expect(threads.run(2) { item in
            started.withLock { $0[item] = true }
            let saw = eventually { started.withLock { $0[1 - item] } }
            sawTheOther.withLock { $0[item] = saw }
        })
        #expect(sawTheOther.withLock { $0 } == [true, true])
    }

    /// A job started while the workers hold one is refused (the caller then runs it
    /// elsewhere), and `Parallel.forEach` inside an item still runs every inner item.
    @Test func aJobInsideAJobRunsElsewhere() {
        let threads = KernelThreads(workers: 1, pollSeconds: 2e-4)
        defer { threads.stop() }
        let refused = Atomic<Int>(0)
        #expect(threads.run(2) { _ in
            if !threads.run(1, { _ in }) { refused.add(1, ordering: .relaxed) }
        })
        #expect(refused.load(ordering: .relaxed) == 2)
        let inner = Atomic<Int>(0)
        Parallel.forEach(4, parallel: true) { _ in
            Parallel.forEach(5, parallel: true) { _ in inner.add(1, ordering: .relaxed) }
        }
        #expect(inner.load(ordering: .relaxed) == 20)
    }

    /// Idle workers go to sleep after polling for `pollSeconds`, and a job wakes them:
    /// two items that wait for each other finish.
    @Test func sleepingWorkersWakeForAJob() {
        let threads = KernelThreads(workers: 2, pollSeconds: 1e-3)
        defer { threads.stop() }
        #expect(eventually { threads.sleepingWorkers == 2 })
        let started = Mutex([false, false, false]), sawTheOthers = Mutex([false, false, false])
        #expect(threads.run(3) { item in
            started.withLock { $0[item] = true }
            let saw = eventually { started.withLock { $0.allSatisfy { $0 } } }
            sawTheOthers.withLock { $0[item] = saw }
        })
        #expect(sawTheOthers.withLock { $0 } == [true, true, true])
    }
}
