/// Softmax, log-softmax and layer normalization, composed from differentiable primitives.

extension Tensor {
    /// softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m) along `axis`, with m = max x (for stability).
    public func softmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDim: true).detached()
        let e = shifted.exp()
        return e / e.sum(axis: axis, keepDim: true)
    }

    /// log softmax(x)ᵢ = (xᵢ − m) − log Σⱼ exp(xⱼ − m) along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDim: true).detached()
        return shifted - shifted.exp().sum(axis: axis, keepDim: true).log()
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
