import Tapestry

/// Multi-head attention with PyTorch's parameters and semantics (`nn.MultiheadAttention`):
/// `in_proj_weight` [3E, E] stacks W_q, W_k, W_v; `in_proj_bias` [3E]; `out_proj` (E → E).
///
///     headᵢ = softmax((q Wqᵢᵀ + bqᵢ)(k Wkᵢᵀ + bkᵢ)ᵀ/√d + mask + bias)·(v Wvᵢᵀ + bvᵢ),  d = E/H
///     output = concat(head₀ … head_{H−1})·W_oᵀ + b_o
///
/// Inputs are sequence-first [L, B, E] (DETR's layout) unless `batchFirst`. Masks: a key
/// padding mask [B, S] (true/1 = ignore that key), an attention mask [L, S] or [B·H, L, S]
/// (boolean: true = not allowed; float: added to the logits), and a per-head logit bias
/// [B, H, L, S] (SMCA adds its log-Gaussian spatial map there). `weights` are averaged over
/// heads ([B, L, S]) unless `averageWeights` is false ([B, H, L, S]); with `needWeights:
/// false` (PyTorch's `need_weights=False`) there are none, and a large attention takes the
/// lean path whose memory grows linearly with the sequence (`scaledDotProductAttention`).
/// An active `AttentionRecorder` receives every call's weights per head.
public final class MultiheadAttention: Module {
    public let inProjWeight: Parameter
    public let inProjBias: Parameter
    public let outProj: Linear
    public let heads: Int
    public let batchFirst: Bool
    public let dropout: Dropout

    public init(embedDim: Int, heads: Int, dropout: Double = 0, batchFirst: Bool = false) {
        check(heads > 0 && embedDim % heads == 0, "MultiheadAttention: embedDim \(embedDim) is not divisible by \(heads) heads")
        inProjWeight = Parameter(Initialization.xavierUniform([3 * embedDim, embedDim]))
        inProjBias = Parameter(Tensor.zeros([3 * embedDim]))
        outProj = Linear(embedDim, embedDim)
        outProj.bias!.value = Tensor.zeros([embedDim])
        (self.heads, self.batchFirst) = (heads, batchFirst)
        self.dropout = Dropout(dropout)
    }

    public var embedDim: Int { inProjWeight.shape[1] }

    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                               attentionMask: Tensor? = nil, logitBias: Tensor? = nil,
                               needWeights: Bool = true, averageWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
        let e = embedDim, h = heads, d = embedDim / heads
        // To batch-first [B, L, E].
        let (q0, k0, v0) = batchFirst ? (query, key, value) : (query.transposed(0, 1), key.transposed(0, 1), value.transposed(0, 1))
        check(q0.rank == 3 && q0.shape[2] == e && k0.shape[2] == e && v0.shape[2] == e && k0.shape[1] == v0.shape[1] && q0.shape[0] == k0.shape[0],
              "MultiheadAttention(E = \(e)): query \(query.shape), key \(key.shape) and value \(value.shape) do not fit")
        let (b, l, s) = (q0.shape[0], q0.shape[1], k0.shape[1])
        let w = inProjWeight.value, bias = inProjBias.value
        func project(_ x: Tensor, _ part: Int, _ length: Int) -> Tensor {
            let y = x.matmul(w.slice(axis: 0, start: part * e, end: (part + 1) * e).transposed())
                + bias.slice(axis: 0, start: part * e, end: (part + 1) * e)
            return y.reshaped([b, length, h, d]).permuted([0, 2, 1, 3])      // [B, H, len, d]
        }
        let q = project(q0, 0, l), k = project(k0, 1, s), v = project(v0, 2, s)

        let givenBias = logitBias
        var logitBias = logitBias
        func add(_ term: Tensor) { logitBias = logitBias.map { $0 + term } ?? term }
        if let mask = attentionMask {
            let additive = mask.dtype.isFloatingPoint ? mask.cast(to: q.dtype) : mask.additiveMask(dtype: q.dtype)
            check(additive.shape == [l, s] || additive.shape == [b * h, l, s], "MultiheadAttention: attention mask must be [\(l), \(s)] or [\(b * h), \(l), \(s)], got \(mask.shape)")
            add(additive.rank == 2 ? additive : additive.reshaped([b, h, l, s]))
        }
        if let mask = keyPaddingMask {
            check(mask.shape == [b, s], "MultiheadAttention: key padding mask must be [\(b), \(s)], got \(mask.shape)")
            add(mask.additiveMask(dtype: q.dtype).reshaped([b, 1, 1, s]))
        }
        if let bias = logitBias { check(broadcastCompatible(bias.shape, [b, h, l, s]), "MultiheadAttention: logit bias \(bias.shape) does not broadcast to [\(b), \(h), \(l), \(s)]") }

        let recorder = AttentionRecorder.active
        let (heads, computed) = scaledDotProductAttention(query: q, key: k, value: v, bias: logitBias, dropout: dropout,
                                                          needWeights: needWeights || recorder != nil)
        if let recorder, let computed { recorder.add(self, weights: computed, bias: givenBias) }
        let weights = needWeights ? computed : nil
        let merged = heads.permuted([0, 2, 1, 3]).reshaped([b, l, e])            // [B, L, E]
        let out = outProj(merged)
        return (batchFirst ? out : out.transposed(0, 1), averageWeights ? weights?.mean(axis: 1) : weights)
    }
}

/// True when `shape` broadcasts to `target` (NumPy rule).
func broadcastCompatible(_ shape: [Int], _ target: [Int]) -> Bool {
    guard shape.count <= target.count else { return false }
    return zip(shape.reversed(), target.reversed()).allSatisfy { $0 == 1 || $0 == $1 }
}
