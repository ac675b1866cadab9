import Dispatch
import Foundation

/// The one level of parallelism Tapestry's own kernels use. Each work item runs in the
/// subnormal mode `Subnormals` sets.
public enum Parallel {
    /// Worker threads for the reference kernels: `TAPESTRY_NUM_THREADS` if set, else the
    /// number of active processors.
    public static let threadCount: Int = {
        if let value = ProcessInfo.processInfo.environment["TAPESTRY_NUM_THREADS"], let n = Int(value), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(i)` for i in 0..<iterations, on several threads when `parallel` is true.
    static func forEach(_ iterations: Int, parallel: Bool, _ body: @Sendable (Int) -> Void) {
        if parallel && iterations > 1 && threadCount > 1 {
            // Each item runs in the process's subnormal mode (`Subnormals.areFlushed`), whichever thread takes it.
            @Sendable func item(_ i: Int) { Subnormals.matching { body(i) } }
            if !KernelThreads.shared.run(iterations, item) { DispatchQueue.concurrentPerform(iterations: iterations, execute: item) }
        } else {
            for i in 0..<iterations { body(i) }
        }
    }

    /// Splits 0..<count into one contiguous range per thread (fewer when a thread would get
    /// less than `minimumPerThread`) and runs `body` on each. Range bounds are multiples of
    /// `alignment` (elements: 64, so vectorised loops see the same alignment as on one thread).
    static func forRanges(_ count: Int, minimumPerThread: Int = 1 << 15, alignment: Int = 64,
                          _ body: @Sendable (Range<Int>) -> Void) {
        let pieces = Swift.min(threadCount, count / Swift.max(minimumPerThread, 1))
        guard pieces > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let size = ((count + pieces - 1) / pieces + alignment - 1) / alignment * alignment
        forEach(pieces, parallel: true) { piece in
            let start = Swift.min(piece * size, count), end = Swift.min(start + size, count)
            if start < end { body(start..<end) }
        }
    }
}

/// A value handed to kernel threads — pointers into tensors, tuples of them — that the
/// threads share without locking: each writes only its own part of the memory they point to.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
