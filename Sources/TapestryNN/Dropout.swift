import Tapestry

/// Dropout (Srivastava et al., 2014): in training, each element is zeroed with probability p
/// and the rest scaled by 1/(1 − p), y = m ⊙ x/(1 − p) with m ~ Bernoulli(1 − p); in
/// evaluation it is the identity. Masks come from the
/// layer's own seeded generator, or from `DefaultRandom` when none is given.
public final class Dropout: Layer {
    public let p: Double
    private var generator: RandomGenerator?

    public init(_ p: Double = 0.5, seed: UInt64? = nil) {
        check(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        generator = seed.map(RandomGenerator.init(seed:))
    }

    override public func forward(_ input: Tensor) -> Tensor {
        guard training && p > 0 else { return input }
        let shape = input.shape
        let uniform: Tensor
        if var g = generator {
            uniform = Tensor.uniform(shape, dtype: input.dtype, generator: &g)
            generator = g
        } else {
            uniform = DefaultRandom.draw { Tensor.uniform(shape, dtype: input.dtype, generator: &$0) }
        }
        return input * ((uniform .>= p).cast(to: input.dtype) * (1 / (1 - p)))
    }

    /// For a kernel that draws this layer's mask itself, piece by piece (blockwise
    /// attention): the generator as it stands before a mask of `count` elements, which is
    /// then reserved (the layer's generator moves past it, as drawing the mask would).
    public func reserveMask(count: Int) -> RandomGenerator {
        func reserve(_ g: inout RandomGenerator) -> RandomGenerator {
            defer { g.counter &+= UInt64(count) }
            return g
        }
        if var g = generator {
            defer { generator = g }
            return reserve(&g)
        }
        return DefaultRandom.draw { reserve(&$0) }
    }
}
