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

    /// `count` uniform values in [0, 1).
    mutating func uniforms(_ count: Int) -> [Double] {
        let start = counter
        counter &+= UInt64(count)
        return (0..<UInt64(count)).map { Double(Self.mix(seed, start &+ $0) >> 11) * 0x1p-53 }
    }

    /// `count` standard normal values (Box–Muller, two uniforms each).
    mutating func normals(_ count: Int) -> [Double] {
        let u = uniforms(2 * count)
        return (0..<count).map { i in
            let u1 = 1 - u[2 * i]  // in (0, 1], so the log is finite
            return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u[2 * i + 1])
        }
    }

    /// A uniformly random integer in 0..<bound.
    public mutating func nextInt(below bound: Int) -> Int {
        check(bound > 0, "nextInt(below:): bound must be positive")
        return Int(nextUniform() * Double(bound)) % bound
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
