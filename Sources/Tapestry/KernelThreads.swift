import Dispatch
import Foundation
import Synchronization

/// The threads Tapestry's own kernels run on besides the calling one: they stay awake for
/// a short while after each job, so the next kernel finds them running instead of
/// waiting for the system to wake a sleeping thread.
///
/// A training step runs thousands of kernels of 0.1–2 ms each, one after the other. With
/// threads that sleep between them, the calling thread starts its half of every kernel at
/// once and the other half starts when the woken thread gets a processor, often after
/// the calling thread has taken that half over too: on a 2-core machine the calling
/// thread ran 74% of 4M-element `exp`s (`perf` samples per thread) with Dispatch's
/// threads, 53% with these (PyTorch's OpenMP threads poll the same way).
///
/// A job is `iterations` items handed out one at a time from a shared counter to the
/// calling thread and every awake worker, so a late worker takes fewer items, and the
/// result never depends on which thread ran an item. One job runs at a time: a call made
/// while a job runs (from another thread, or from inside an item) gets `false` from
/// `run` and runs elsewhere.
final class KernelThreads: @unchecked Sendable {
    /// One worker per processor beyond the calling thread's, polling for 0.2 ms.
    static let shared = KernelThreads(workers: Parallel.threadCount - 1, pollSeconds: 2e-4)

    /// How long an idle worker polls for the next job before it sleeps.
    let pollSeconds: Double

    /// One call of `run`: its items, handed out from `nextItem`, and how many have finished.
    private final class Job: @unchecked Sendable {
        let iterations: Int
        /// Cleared when every item has finished: no thread reads it after that, since
        /// `nextItem` then hands out only numbers past the end.
        nonisolated(unsafe) var body: ((Int) -> Void)?
        let nextItem = Atomic<Int>(0)
        let finished = Atomic<Int>(0)

        init(iterations: Int, body: @escaping (Int) -> Void) {
            self.iterations = iterations
            self.body = body
        }

        /// Runs items until none is left.
        func takeItems() {
            while true {
                let item = nextItem.add(1, ordering: .sequentiallyConsistent).oldValue
                guard item < iterations else { return }
                runItem(item)
                finished.add(1, ordering: .releasing)
            }
        }

        /// Out of line, so the closure is released before the item counts as finished
        /// (`withoutActuallyEscaping` checks that nothing holds it when `run` returns).
        @inline(never)
        private func runItem(_ item: Int) { body!(item) }
    }

    private let workerCount: Int
    /// Taken by the thread that runs a job, for the whole job.
    private let busy = Atomic<Bool>(false)
    /// The latest job, and its number, which idle workers poll.
    private let current = Mutex<Job?>(nil)
    private let generation = Atomic<Int>(0)
    /// Set by `stop`: the workers end.
    private let stopping = Atomic<Bool>(false)
    /// Workers asleep (or about to be) on `wakeUp`.
    private let sleepers = Atomic<Int>(0)
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Workers asleep now (tests watch them go to sleep and wake).
    var sleepingWorkers: Int { sleepers.load(ordering: .sequentiallyConsistent) }

    init(workers: Int, pollSeconds: Double) {
        workerCount = max(0, workers)
        self.pollSeconds = pollSeconds
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wakeUp, nil)
        for _ in 0..<workerCount {
            let thread = Thread { self.work() }
            thread.name = "tapestry-kernel"
            thread.start()
        }
    }

    /// Runs `body(i)` for every i in 0..<iterations on the calling thread and the workers,
    /// and returns when all have finished; `false`, running nothing, when there are no
    /// workers or another job holds them.
    func run(_ iterations: Int, _ body: (Int) -> Void) -> Bool {
        guard workerCount > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            let job = Job(iterations: iterations, body: body)
            current.withLock { $0 = job }
            generation.add(1, ordering: .sequentiallyConsistent)
            wakeSleepers()
            job.takeItems()
            while job.finished.load(ordering: .acquiring) < iterations {}
            job.body = nil
            current.withLock { $0 = nil }
        }
        return true
    }

    /// Ends the workers once they are idle (the shared pool's live as long as the process).
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeSleepers()
    }

    private func wakeSleepers() {
        guard sleepers.load(ordering: .sequentiallyConsistent) > 0 else { return }
        pthread_mutex_lock(lock)
        pthread_cond_broadcast(wakeUp)
        pthread_mutex_unlock(lock)
    }

    /// A worker's life: poll for a job for `pollSeconds`, then sleep until one comes.
    private func work() {
        var seen = 0   // not the current value: a job may have come before this thread started
        while !stopping.load(ordering: .relaxed) {
            let spinUntil = DispatchTime.now().uptimeNanoseconds + UInt64(pollSeconds * 1e9)
            var polls = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                polls += 1
                if stopping.load(ordering: .relaxed) || (polls % 256 == 0 && DispatchTime.now().uptimeNanoseconds > spinUntil) {
                    sleep(unlessAfter: seen)
                    break
                }
            }
            let now = generation.load(ordering: .sequentiallyConsistent)
            if now != seen {
                seen = now
                current.withLock { $0 }?.takeItems()
            }
        }
    }

    /// Sleeps until `generation` moves past `seen` or `stop` is called (returns at once if
    /// either has happened).
    private func sleep(unlessAfter seen: Int) {
        pthread_mutex_lock(lock)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .sequentiallyConsistent) {
            pthread_cond_wait(wakeUp, lock)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(lock)
    }
}
