import Tapestry

/// Stand-alone local self-attention (Ramachandran et al., "Stand-Alone Self-Attention in
/// Vision Models", NeurIPS 2019, eqs. 2–3), with the semantics of shared/spec/sasa-resnet.md §3
/// and the parameter names of leaderj1001/Stand-Alone-Self-Attention's `AttentionConv`.
///
/// Each output pixel (i, j) attends over its k×k neighbourhood N, per head n (d = C/N channels):
///
///     y_ij = Σ_{ab ∈ N} softmax_ab( q_ij · (k_ab + r_{a−i, b−j}) ) · v_ab
///
/// with q = W_q x, k = W_k x̃, v = W_v x̃ (bias-free 1×1 convolutions, x̃ zero-padded by
/// (k−1)/2, so padded keys and values are 0 and stay in the softmax), and the relative
/// embedding r = [row half from `rel_h` | column half from `rel_w`] inside every head.
/// No logit scaling. Stride 1; downsampling is the block's job.
public final class LocalSelfAttention: Layer {
    /// [C/2, 1, 1, k, 1]: row-offset embeddings.
    public let relH: Parameter
    /// [C/2, 1, 1, 1, k]: column-offset embeddings.
    public let relW: Parameter
    public let keyConv: Conv2d
    public let queryConv: Conv2d
    public let valueConv: Conv2d
    public let kernelSize: Int
    public let heads: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: Int, heads: Int) {
        check(kernelSize % 2 == 1, "LocalSelfAttention: kernel size must be odd, got \(kernelSize)")
        check(outChannels % heads == 0 && (outChannels / heads) % 2 == 0, "LocalSelfAttention: \(outChannels) channels need an even size per head for \(heads) heads")
        relH = Parameter(Initialization.normal([outChannels / 2, 1, 1, kernelSize, 1]))
        relW = Parameter(Initialization.normal([outChannels / 2, 1, 1, 1, kernelSize]))
        keyConv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
        queryConv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
        valueConv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
        for conv in [keyConv, queryConv, valueConv] { conv.weight.value = Initialization.kaimingNormalFanOut(conv.weight.shape) }
        (self.kernelSize, self.heads) = (kernelSize, heads)
    }

    /// Use the fused kernel that reads each neighbourhood in place (true) or the composite
    /// that unfolds k² copies of the keys and values (false); the same function.
    public var fused = true

    /// The relative table R[n, t, a·k + b] of spec §3 step 3: row offsets in the first half of
    /// each head's channels, column offsets in the second half.
    func relativeTable() -> Tensor {
        let (k, n) = (kernelSize, heads)
        let half = relH.shape[0] / n
        let rows = relH.value.reshaped([n, half, k, 1]).expanded(to: [n, half, k, k])
        let columns = relW.value.reshaped([n, half, 1, k]).expanded(to: [n, half, k, k])
        return Tensor.concat([rows, columns], axis: 1).reshaped([n, 2 * half, k * k])
    }

    override public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 4, "LocalSelfAttention: input must be [B, C, H, W], got \(input.shape)")
        // Bias-free 1×1 projections commute with zero padding: keys and values of padded
        // positions are 0, as when the input is padded first.
        let (q, k, v, r) = (queryConv(input), keyConv(input), valueConv(input), relativeTable())
        if let recorder = AttentionRecorder.active {
            let weights = noGrad { Tensor.localAttentionWeights(query: q, key: k, relative: r, heads: heads, kernelSize: kernelSize) }
            recorder.addNeighbourhood(self, weights: weights.reshaped(Array(weights.shape.prefix(3)) + [input.shape[2], input.shape[3]]), kernelSize: kernelSize)
        }
        return fused ? Tensor.localAttention(query: q, key: k, value: v, relative: r, heads: heads, kernelSize: kernelSize)
                     : Tensor.compositeLocalAttention(query: q, key: k, value: v, relative: r, heads: heads, kernelSize: kernelSize)
    }
}

/// The SASA attention stem (Ramachandran et al., NeurIPS 2019, §3.2; spec §4; upstream `AttentionStem`, CIFAR variant): values mixed
/// per window position with spatially-aware weights, attention logits without positions.
///
///     p(a, b, m) = softmax_m( emb_mix[m]·(emb_a[:, a] + emb_b[:, b]) )
///     ṽ_ab = Σ_m p(a, b, m)·(W_m x̃)_ab
///     y_ij = Σ_ab softmax_ab(q_ij · k_ab)·ṽ_ab
///
/// over a k×k window covering rows i − p … i − p + k − 1 (k = 4, p = 2: asymmetric), per
/// head, with zero-padded keys and values and no scaling.
public final class AttentionStem: Layer {
    public let embA: Parameter
    public let embB: Parameter
    public let embMix: Parameter
    public let keyConv: Conv2d
    public let queryConv: Conv2d
    public let valueConv: [Conv2d]
    public let kernelSize: Int
    public let padding: Int
    public let heads: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: Int = 4, padding: Int = 2, heads: Int = 1, mixtures: Int = 4) {
        check(outChannels % heads == 0, "AttentionStem: \(outChannels) channels do not split into \(heads) heads")
        let d = outChannels / heads
        embA = Parameter(Initialization.normal([d, kernelSize]))
        embB = Parameter(Initialization.normal([d, kernelSize]))
        embMix = Parameter(Initialization.normal([mixtures, d]))
        keyConv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
        queryConv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
        valueConv = (0..<mixtures).map { _ in Conv2d(inChannels, outChannels, kernelSize: 1, bias: false) }
        for conv in [keyConv, queryConv] + valueConv { conv.weight.value = Initialization.kaimingNormalFanOut(conv.weight.shape) }
        (self.kernelSize, self.padding, self.heads) = (kernelSize, padding, heads)
    }

    /// p(a, b, m) as [M, k²].
    func mixtureWeights() -> Tensor {
        let k = kernelSize
        let rows = embMix.value.matmul(embA.value), columns = embMix.value.matmul(embB.value)   // [M, k]
        return (rows.unsqueezed(axis: 2) + columns.unsqueezed(axis: 1)).softmax(axis: 0).reshaped([-1, k * k])
    }

    override public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 4, "AttentionStem: input must be [B, C, H, W], got \(input.shape)")
        let (b, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let (k, p, n) = (kernelSize, padding, heads)
        let c = queryConv.outChannels, d = c / n
        // Windows of a padded map, keeping the first H×W of the (H + 2p − k + 1)² positions.
        func windows(_ x: Tensor) -> Tensor {
            let (oh, ow) = (h + 2 * p - k + 1, w + 2 * p - k + 1)
            return x.unfold(kernel: (k, k), padding: (p, p)).reshaped([b, c, k * k, oh, ow])
                .slice(axis: 3, end: h).slice(axis: 4, end: w).reshaped([b, n, d, k * k, h * w])
        }
        let q = queryConv(input).reshaped([b, n, d, 1, h * w])
        let weights = (q * windows(keyConv(input))).sum(axis: 2).softmax(axis: 2)     // [B, N, k², H·W]
        let mixture = mixtureWeights()
        var values: Tensor?
        for (m, conv) in valueConv.enumerated() {
            let term = windows(conv(input)) * mixture.select(axis: 0, index: m).reshaped([1, 1, 1, k * k, 1])
            values = values.map { $0 + term } ?? term
        }
        return (weights.unsqueezed(axis: 2) * values!).sum(axis: 3).reshaped([b, c, h, w])
    }
}
