import Tapestry

/// The attention core every attention layer shares (Vaswani et al., "Attention Is All You
/// Need", 2017, eq. 1):
///
///     weights = softmax(q·kᵀ·scale + bias),   output = weights·v
///
/// q [B, H, L, d], k [B, H, S, d], v [B, H, S, dv]. `bias` is anything that broadcasts to
/// [B, H, L, S] and is added to the logits after scaling: additive masks (−∞ where a key is
/// not allowed), key-padding masks, or a per-head logit map such as SMCA's log-Gaussian
/// spatial prior. `scale` defaults to 1/√d.
public func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, bias: Tensor? = nil,
                                      scale: Double? = nil) -> (output: Tensor, weights: Tensor) {
    check(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: q, k, v must be [B, H, L|S, d], got \(q.shape), \(k.shape), \(v.shape)")
    check(q.shape[3] == k.shape[3] && k.shape[2] == v.shape[2], "attention: q \(q.shape), k \(k.shape), v \(v.shape) do not fit together")
    let s = scale ?? 1 / Double(q.shape[3]).squareRoot()
    var logits = (q * s).matmul(k.transposed())
    if let bias { logits = logits + bias }
    let weights = logits.softmax(axis: -1)
    return (weights.matmul(v), weights)
}

extension Tensor {
    /// A boolean or 0/1 mask (true = not allowed) as an additive mask: −∞ where set, 0 elsewhere.
    public func additiveMask(dtype: DType) -> Tensor {
        let blocked = self.dtype == .bool ? self : (self .!= 0)
        return Tensor.where(blocked, Tensor(scalar: -.infinity, dtype: dtype), Tensor.zeros([], dtype: dtype))
    }
}
