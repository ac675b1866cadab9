import Tapestry

/// The attention core every attention layer shares (Vaswani et al., "Attention Is All You
/// Need", 2017, eq. 1):
///
///     weights = softmax(q·kᵀ·scale + bias),   output = dropout(weights)·v
///
/// q [B, H, L, d], k [B, H, S, d], v [B, H, S, dv]. `bias` is anything that broadcasts to
/// [B, H, L, S] and is added to the logits after scaling: additive masks (−∞ where a key is
/// not allowed), key-padding masks, or a per-head logit map such as SMCA's log-Gaussian
/// spatial prior. `scale` defaults to 1/√d. `dropout` (when training) drops weights as the
/// layer would drop a [B, H, L, S] tensor.
///
/// Two paths compute it. The plain one forms the whole [B, H, L, S] matrix and returns the
/// weights. The lean one (`Tensor.blockwiseAttention`) works a block of query rows at a
/// time and keeps no matrix, so its memory grows as L + S instead of L·S; it is taken when
/// the weights are not needed (`needWeights: false`) and the matrix has at least
/// `AttentionPath.leanThreshold` elements, or always or never as `AttentionPath.preferred`
/// says.
public func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, bias: Tensor? = nil,
                                      scale: Double? = nil, dropout: Dropout? = nil,
                                      needWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
    check(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: q, k, v must be [B, H, L|S, d], got \(q.shape), \(k.shape), \(v.shape)")
    let s = scale ?? 1 / Double(q.shape[3]).squareRoot()
    let matrix = q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2]
    let drop = dropout.flatMap { $0.training && $0.p > 0 ? AttentionDropout(p: $0.p, stream: $0.reserveMask(count: matrix)) : nil }
    if !needWeights && AttentionPath.preferred.takesLean(matrix: matrix) { return (Tensor.blockwiseAttention(query: q, key: k, value: v, bias: bias, scale: s, dropout: drop), nil) }
    let (output, weights) = Tensor.plainAttention(query: q, key: k, value: v, bias: bias, scale: s, dropout: drop)
    return (output, needWeights ? weights : nil)
}

/// Which path `scaledDotProductAttention` takes when the weights are not needed (like
/// PyTorch's `sdpa_kernel` context): `AttentionPath.$preferred.withValue(.plain) { … }`
/// runs a model with the plain path throughout, to compare the two.
public enum AttentionPath: Sendable {
    /// The lean path from `leanThreshold` logits on, the plain one below.
    case automatic
    case plain
    case lean

    @TaskLocal public static var preferred = AttentionPath.automatic

    /// The smallest attention matrix (B·H·L·S elements) for which `automatic` takes the lean
    /// path: 2²⁵ is 2 images × 8 heads × about 1450². Below it the plain path is faster
    /// (`zoo bench layers --only attention` at 1024²); from 2048² on the lean one is
    /// (`zoo bench attention-memory`).
    public static let leanThreshold = 1 << 25

    func takesLean(matrix: Int) -> Bool {
        switch self {
        case .automatic: return matrix >= Self.leanThreshold
        case .plain: return false
        case .lean: return true
        }
    }
}

extension Tensor {
    /// A boolean or 0/1 mask (true = not allowed) as an additive mask: −∞ where set, 0 elsewhere.
    public func additiveMask(dtype: DType) -> Tensor {
        let blocked = self.dtype == .bool ? self : (self .!= 0)
        return Tensor.where(blocked, Tensor(scalar: -.infinity, dtype: dtype), Tensor.zeros([], dtype: dtype))
    }
}
