import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Tapestry

/// Flushing subnormals is process-wide (Tapestry's kernel threads serve every caller), so
/// this suite runs in a process of its own: `make test` skips it in the main run and runs
/// it alone afterwards.
@Suite(.serialized) struct SubnormalFlushing {
    /// Subnormal in Float32 (the smallest normal number is 1.18·10⁻³⁸).
    static let tiny = Float(1e-39)

    /// Two work items that wait for each other, so that a kernel thread runs one of them
    /// while the calling thread runs the other: both take the mode set (through
    /// `Parallel.forEach` and `Parallel.forRanges` alike), and the calling thread has its
    /// own back afterwards.
    @Test(arguments: ["forEach", "forRanges"]) func kernelThreadsTakeTheMode(_ entry: String) throws {
        try #require(Parallel.threadCount > 1, "needs two kernel threads")
        let arrived = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        struct Seen: Sendable { let thread: UInt, flushes: Bool, metPartner: Bool }
        let seen = Mutex<[Seen]>([])
        let item: @Sendable (Int) -> Void = { item in
            arrived[item].signal()
            let met = arrived[1 - item].wait(timeout: .now() + 10) == .success
            let record = Seen(thread: UInt(pthread_self()), flushes: Subnormals.threadFlushes, metPartner: met)
            seen.withLock { $0.append(record) }
        }
        Subnormals.withFlushed(true) {
            if entry == "forEach" {
                Parallel.forEach(2, parallel: true, item)
            } else {
                Parallel.forRanges(2 << 15) { range in item(range.lowerBound == 0 ? 0 : 1) }
            }
        }
        let items = seen.withLock { $0 }
        let threads = Set(items.map { $0.thread }), met = items.filter { $0.metPartner }.count, flushing = items.filter { $0.flushes }.count
        #expect(items.count == 2 && met == 2, "the two work items did not run at once: \(items)")
        #expect(threads.count == 2, "one thread ran both work items")
        #expect(flushing == 2, "a work item ran without flushing: \(items)")
        #expect(!Subnormals.threadFlushes)
    }

    /// tiny · 10³⁰ over 200,003 elements (in two pieces, which a kernel thread may or may
    /// not join: `kernelThreadsTakeTheMode` makes sure one does): ≈ 10⁻⁹ with IEEE gradual
    /// underflow (the Double product of two Floats is exact, so rounding it once gives the
    /// Float product), 0 when subnormal inputs are read as zero.
    @Test func elementwiseProductsOfSubnormals() {
        let x = Tensor([Float](repeating: Self.tiny, count: 200_003), shape: [200_003])
        let ieee = Float(Double(Self.tiny) * Double(Float(1e30)))
        #expect(ieee > 9e-10 && ieee < 1.1e-9)
        Subnormals.withFlushed(true) {
            let flushed = (x * 1e30).scalars(as: Float.self)
            #expect(flushed.allSatisfy { $0 == 0 }, "\(flushed.filter { $0 != 0 }.count) of \(flushed.count) products kept a subnormal input")
        }
        let kept = (x * 1e30).scalars(as: Float.self)
        #expect(kept.allSatisfy { $0 == ieee }, "\(kept.filter { $0 != ieee }.count) of \(kept.count) products lost their subnormal input")
    }

    /// [512, 256] of tiny times [256, 256] of ones, a product the gemm shares between the
    /// kernel threads: every entry is 256·tiny ≈ 2.56·10⁻³⁷ with IEEE (within 10⁻⁴ relative:
    /// OpenBLAS's SkylakeX kernel returns 2.56001·10⁻³⁷ where the exact sum is 2.56·10⁻³⁷),
    /// exactly 0 when flushed; and 256·tiny again once the mode is set back.
    @Test func matrixProductsOnEveryGemmThread() {
        let a = Tensor([Float](repeating: Self.tiny, count: 512 * 256), shape: [512, 256])
        let b = Tensor.ones([256, 256])
        let exact = 256 * Double(Self.tiny)
        #expect(exact > 2.5e-37 && exact < 2.6e-37)
        func farFromExact(_ entries: [Float]) -> Int { entries.filter { Swift.abs(Double($0) - exact) > 1e-4 * exact }.count }
        let before = farFromExact(a.matmul(b).scalars(as: Float.self))
        #expect(before == 0, "\(before) of 131072 entries are not 256·tiny before flushing")
        Subnormals.withFlushed(true) {
            #expect(Subnormals.areFlushed)
            let flushed = a.matmul(b).scalars(as: Float.self)
            #expect(flushed.allSatisfy { $0 == 0 }, "\(flushed.filter { $0 != 0 }.count) of \(flushed.count) entries kept subnormal inputs")
        }
        #expect(!Subnormals.areFlushed)
        let after = farFromExact(a.matmul(b).scalars(as: Float.self))
        #expect(after == 0, "\(after) of 131072 entries are not 256·tiny after flushing was turned off")
    }

    /// Flushing also writes 0 for a subnormal result of normal inputs (FTZ, not only DAZ):
    /// 10⁻²⁰ · 10⁻²⁰ = 10⁻⁴⁰.
    @Test func subnormalResultsOfNormalInputs() {
        let x = Tensor([Float](repeating: 1e-20, count: 100_000), shape: [100_000])
        let ieee = Float(Double(Float(1e-20)) * Double(Float(1e-20)))
        #expect(ieee > 0 && ieee < Float.leastNormalMagnitude)
        Subnormals.withFlushed(true) { #expect((x * x).scalars(as: Float.self).allSatisfy { $0 == 0 }) }
        #expect((x * x).scalars(as: Float.self).allSatisfy { $0 == ieee })
    }
}
