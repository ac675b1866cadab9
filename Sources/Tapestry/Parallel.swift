import Dispatch
import Foundation

/// The one level of parallelism Tapestry's own kernels use.
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
            DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
        } else {
            for i in 0..<iterations { body(i) }
        }
    }
}
