/// Softmax, log-softmax and layer normalization, composed from differentiable primitives.

extension Tensor {
    /// softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m) along `axis`, with m = max x (for stability).
    /// One fused kernel; its derivative y ⊙ (g − Σ g ⊙ y) another (written with tensor ops
    /// when second derivatives are asked for).
    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let y = softmaxKernel(axis: a, log: false)
        return y.recorded("softmax", [self]) { g in
            if GradMode.isEnabled {
                // createGraph: the derivative as differentiable tensor ops.
                let y = self.softmax(axis: a)
                return [y * (g - (g * y).sum(axis: a, keepDim: true))]
            }
            return [Tensor.softmaxBackward(y, g, axis: a)]
        }
    }

    /// log softmax(x)ᵢ = (xᵢ − m) − log Σⱼ exp(xⱼ − m) along `axis`; derivative g − softmax(x)·Σ g.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        return softmaxKernel(axis: a, log: true).recorded("logSoftmax", [self]) { g in
            [g - self.softmax(axis: a) * g.sum(axis: a, keepDim: true)]
        }
    }

    /// y ⊙ (g − Σ g ⊙ y) along `axis`, row by row in one pass.
    static func softmaxBackward(_ y: Tensor, _ g: Tensor, axis a: Int) -> Tensor {
        struct Rows: FloatKernel {
            let y: Tensor, g: Tensor, out: Tensor, rows: Int, length: Int
            func run<T: FloatElement>(_: T.Type) {
                backend.softmaxBackwardRows(y.pointer(T.self), g.pointer(T.self), rows: rows, length: length, out.pointer(T.self))
            }
        }
        let last = y.rank - 1
        let (movedY, movedG) = (y.detached().transposed(a, last).contiguous(), g.detached().transposed(a, last).contiguous())
        let out = Tensor(uninitializedShape: movedY.shape, dtype: y.dtype)
        let length = y.shape[a]
        y.dtype.dispatchFloat(Rows(y: movedY, g: movedG, out: out, rows: movedY.count / Swift.max(length, 1), length: length),
                              operation: "softmax backward")
        return out.transposed(a, last).contiguous()
    }

    /// The composite definitions, kept to check the fused kernel against.
    func compositeSoftmax(axis: Int, log: Bool) -> Tensor {
        let shifted = self - max(axis: axis, keepDim: true).detached()
        return log ? shifted - shifted.exp().sum(axis: axis, keepDim: true).log() : shifted.exp() / shifted.exp().sum(axis: axis, keepDim: true)
    }

    private func softmaxKernel(axis a: Int, log: Bool) -> Tensor {
        struct Rows: FloatKernel {
            let input: Tensor, out: Tensor, rows: Int, length: Int, log: Bool
            func run<T: FloatElement>(_: T.Type) {
                backend.softmaxRows(input.pointer(T.self), rows: rows, length: length, log: log, out.pointer(T.self))
            }
        }
        let moved = detached().transposed(a, rank - 1).contiguous()
        let out = Tensor(uninitializedShape: moved.shape, dtype: dtype)
        dtype.dispatchFloat(Rows(input: moved, out: out, rows: moved.count / Swift.max(shape[a], 1), length: shape[a], log: log), operation: "softmax")
        return out.transposed(a, rank - 1).contiguous()
    }

    /// Layer normalization over the last `normalizedAxes` axes (Ba, Kiros & Hinton, 2016):
    /// y = (x − μ) / √(σ² + ε) · weight + bias, with the biased variance σ².
    public func layerNorm(normalizedAxes: Int = 1, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        check(normalizedAxes >= 1 && normalizedAxes <= rank, "layerNorm: cannot normalize \(normalizedAxes) axes of shape \(shape)")
        let axes = Array((rank - normalizedAxes)..<rank)
        let centered = self - mean(axes: axes, keepDim: true)
        var y = centered * ((centered * centered).mean(axes: axes, keepDim: true) + eps).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }
}
