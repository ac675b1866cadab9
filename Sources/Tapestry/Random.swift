import Foundation
import Synchronization

/// A seeded, counter-based random number generator.
///
/// Value `i` of a stream depends only on (seed, counter + i), through the SplitMix64
/// finalizer (Steele, Lea & Flood, "Fast Splittable Pseudorandom Number Generators",
/// OOPSLA 2014). So the same seed gives the same numbers on every backend and thread
/// count, and a generator's state is two integers that a checkpoint can store.
public struct RandomGenerator: Sendable, Equatable, Codable {
    public let seed: UInt64
    /// How many 64-bit values have been drawn so far.
    public var counter: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        counter = 0
    }

    @inline(__always)
    static func mix(_ seed: UInt64, _ index: UInt64) -> UInt64 {
        var z = seed &+ (index &+ 1) &* 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The next raw 64-bit value.
    public mutating func next() -> UInt64 {
        defer { counter &+= 1 }
        return Self.mix(seed, counter)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Fills `out` with `count` uniform values in [low, high), consuming `count` draws.
    /// Each value depends only on its index, so the kernel threads split the work with no
    /// change to the numbers.
    mutating func fillUniform<T: FloatElement>(_ out: UnsafeMutablePointer<T>, count: Int, low: Double, high: Double) {
        let (seed, start) = (seed, counter)
        counter &+= UInt64(count)
        let scale = (high - low) * 0x1p-53
        let output = UnsafeSendable(out)
        Parallel.forRanges(count) { range in
            for i in range { output.value[i] = T(low + Double(Self.mix(seed, start &+ UInt64(i)) >> 11) * scale) }
        }
    }

    /// Fills `out` with `count` normal values (Box–Muller, two draws each).
    mutating func fillNormal<T: FloatElement>(_ out: UnsafeMutablePointer<T>, count: Int, mean: Double, std: Double) {
        let start = counter
        counter &+= UInt64(2 * count)
        for i in 0..<count {
            let u1 = 1 - Double(Self.mix(seed, start &+ UInt64(2 * i)) >> 11) * 0x1p-53  // in (0, 1]: finite log
            let u2 = Double(Self.mix(seed, start &+ UInt64(2 * i + 1)) >> 11) * 0x1p-53
            out[i] = T(mean + std * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
        }
    }

    /// A uniformly random integer in 0..<bound.
    public mutating func nextInt(below bound: Int) -> Int {
        check(bound > 0, "nextInt(below:): bound must be positive")
        return Int(nextUniform() * Double(bound)) % bound
    }
}

/// The process-wide generator that layers draw their initial weights and dropout masks
/// from when no generator is passed (like PyTorch's global RNG). `manualSeed` makes every
/// run that follows reproducible.
///
/// `withGenerator` gives the code it runs (on the calling task) a generator of its own, so
/// a training run or a test is not disturbed by other work drawing random numbers meanwhile.
public enum DefaultRandom {
    final class Box: Sendable {
        let generator: Mutex<RandomGenerator>
        init(_ generator: RandomGenerator) { self.generator = Mutex(generator) }
    }

    private static let global = Box(RandomGenerator(seed: 0))
    @TaskLocal private static var scoped: Box?
    private static var current: Box { scoped ?? global }

    /// Restarts the default generator from `seed`.
    public static func manualSeed(_ seed: UInt64) { current.generator.withLock { $0 = RandomGenerator(seed: seed) } }

    /// The current state, to store in a checkpoint.
    public static var state: RandomGenerator {
        get { current.generator.withLock { $0 } }
        set { current.generator.withLock { $0 = newValue } }
    }

    /// Runs `body` with exclusive access to the default generator.
    public static func draw<R: Sendable>(_ body: (inout RandomGenerator) -> R) -> R {
        current.generator.withLock { g in body(&g) }
    }

    /// Runs `body` with `generator` as the default generator of this task; returns the
    /// result and the generator's state afterwards.
    public static func withGenerator<R>(_ generator: RandomGenerator, _ body: () throws -> R) rethrows -> (R, RandomGenerator) {
        let box = Box(generator)
        let result = try $scoped.withValue(box) { try body() }
        return (result, box.generator.withLock { $0 })
    }
}
