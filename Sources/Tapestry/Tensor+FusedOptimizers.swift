/// Optimizer updates fused into one pass over each parameter's elements, as PyTorch's
/// `fused=True` optimizers are: a training step of a 41M-parameter model otherwise spends
/// a tenth of its time in the dozen element-wise operations of Adam's formula.

/// The scalars of one Adam or AdamW step (Kingma & Ba, 2015; Loshchilov & Hutter, 2019),
/// as `torch.optim.Adam`/`AdamW` use them.
public struct AdamStep: Sendable {
    public var learningRate, beta1, beta2, eps, weightDecay: Double
    /// True for AdamW (p ← p·(1 − lr·λ)), false for Adam (g ← g + λ·p).
    public var decoupledWeightDecay: Bool
    /// 1 − β₁ᵗ and 1 − β₂ᵗ for this step t.
    public var correction1, correction2: Double
    /// s in g ← g·s, applied first (gradient clipping's factor; 1 leaves g as it is).
    public var gradientScale: Double

    public init(learningRate: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double,
                decoupledWeightDecay: Bool, correction1: Double, correction2: Double, gradientScale: Double = 1) {
        (self.learningRate, self.beta1, self.beta2, self.eps, self.weightDecay) = (learningRate, beta1, beta2, eps, weightDecay)
        (self.decoupledWeightDecay, self.correction1, self.correction2) = (decoupledWeightDecay, correction1, correction2)
        self.gradientScale = gradientScale
    }
}

extension Tensor {
    /// One Adam step for one parameter, element by element, in the parameter's dtype:
    ///
    ///     g ← g·s (s: `gradientScale`)
    ///     AdamW: p ← p·(1 − lr·λ)          Adam: g ← g + λ·p
    ///     m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
    ///     p ← p − (m / (√v/√(1 − β₂ᵗ) + ε))·(lr/(1 − β₁ᵗ))
    ///
    /// with the operations in that order, so the result is bit for bit what the same
    /// formula written with tensor operations gives. `m` and `v` are nil at the first step
    /// (zeros). Returns new tensors (parameter, m, v); the inputs are left as they were.
    public static func adamUpdate(parameter: Tensor, gradient: Tensor, m: Tensor?, v: Tensor?,
                                  _ step: AdamStep) -> (parameter: Tensor, m: Tensor, v: Tensor) {
        for (name, t) in [("gradient", gradient), ("m", m), ("v", v)] {
            guard let t else { continue }
            check(t.shape == parameter.shape && t.dtype == parameter.dtype,
                  "adamUpdate: \(name) is \(t.dtype) \(t.shape), the parameter \(parameter.dtype) \(parameter.shape)")
        }
        let out = (Tensor(uninitializedShape: parameter.shape, dtype: parameter.dtype),
                   Tensor(uninitializedShape: parameter.shape, dtype: parameter.dtype),
                   Tensor(uninitializedShape: parameter.shape, dtype: parameter.dtype))
        struct Update: FloatKernel {
            let p: Tensor, g: Tensor, m: Tensor, v: Tensor, out: (Tensor, Tensor, Tensor), step: AdamStep
            func run<T: FloatElement>(_: T.Type) {
                let s = step
                let decoupled = s.weightDecay != 0 && s.decoupledWeightDecay
                // Multiplying by 1 and adding 0·p leave values unchanged, so one loop serves both forms.
                let decay = decoupled ? T(1 - s.learningRate * s.weightDecay) : 1
                let addedDecay = decoupled ? 0 : T(s.weightDecay)
                let (b1, c1) = (T(s.beta1), T(1 - s.beta1)), (b2, c2) = (T(s.beta2), T(1 - s.beta2))
                let (root2, eps, rate) = (T(s.correction2.squareRoot()), T(s.eps), T(s.learningRate / s.correction1))
                let scale = T(s.gradientScale)
                let pointers = UnsafeSendable((p.pointer(T.self), g.pointer(T.self), m.pointer(T.self), v.pointer(T.self),
                                               out.0.pointer(T.self), out.1.pointer(T.self), out.2.pointer(T.self)))
                // The same arithmetic on 8 lanes, then a scalar tail: written as a plain loop,
                // the compiler kept it scalar (the square root's domain check).
                Parallel.forRanges(p.count) { range in
                    let (p, g, m, v, newP, newM, newV) = pointers.value
                    var i = range.lowerBound
                    while i &+ 8 <= range.upperBound {
                        let (parameter, gradient) = (VectorRows.load(p + i), VectorRows.load(g + i) * scale)
                        let grad = gradient + parameter * addedDecay
                        let first = VectorRows.load(m + i) * b1 + grad * c1
                        let second = VectorRows.load(v + i) * b2 + grad * grad * c2
                        VectorRows.store(first, newM + i)
                        VectorRows.store(second, newV + i)
                        VectorRows.store(parameter * decay - first / (second.squareRoot() / root2 + eps) * rate, newP + i)
                        i &+= 8
                    }
                    for i in i..<range.upperBound {
                        let grad = g[i] * scale + p[i] * addedDecay
                        let first = m[i] * b1 + grad * c1
                        let second = v[i] * b2 + grad * grad * c2
                        newM[i] = first
                        newV[i] = second
                        newP[i] = p[i] * decay - first / (second.squareRoot() / root2 + eps) * rate
                    }
                }
            }
        }
        let zeros = m == nil || v == nil ? Tensor.zeros(parameter.shape, dtype: parameter.dtype) : nil
        parameter.dtype.dispatchFloat(Update(p: parameter.detached().contiguous(), g: gradient.detached().contiguous(),
                                             m: (m ?? zeros!).detached().contiguous(), v: (v ?? zeros!).detached().contiguous(),
                                             out: out, step: step),
                                      operation: "adamUpdate")
        return out
    }

    /// Σ x², accumulated in the tensor's dtype (the square of the L2 norm), in one pass
    /// without a temporary; off the tape.
    public func sumOfSquares() -> Double {
        struct SumOfSquares: FloatKernel {
            let x: Tensor
            let partials: UnsafeSendable<UnsafeMutablePointer<Double>>
            func run<T: FloatElement>(_: T.Type) {
                let input = UnsafeSendable(x.pointer(T.self))
                let pieceSize = Swift.max(1, (x.count + Parallel.threadCount - 1) / Parallel.threadCount)
                Parallel.forEach(Parallel.threadCount, parallel: x.count > 1 << 16) { piece in
                    let start = Swift.min(piece * pieceSize, x.count), end = Swift.min(start + pieceSize, x.count)
                    partials.value[piece] = VectorRows.dot(input.value + start, input.value + start, end - start).asDouble
                }
            }
        }
        var partials = [Double](repeating: 0, count: Parallel.threadCount)
        partials.withUnsafeMutableBufferPointer { buffer in
            dtype.dispatchFloat(SumOfSquares(x: detached().contiguous(), partials: UnsafeSendable(buffer.baseAddress!)), operation: "sumOfSquares")
        }
        return partials.reduce(0, +)
    }
}
