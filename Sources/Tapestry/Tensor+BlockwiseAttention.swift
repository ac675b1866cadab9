/// Scaled dot-product attention whose memory grows linearly with the sequence: computed a
/// block of query rows at a time, so the L × S matrix of logits (and of weights, and of a
/// dropout mask) never exists. Each block's logits cover every key, so its softmax is exact;
/// the backward pass recomputes each block's logits and softmax instead of storing them
/// (the recomputation of "FlashAttention", Dao et al., NeurIPS 2022, without its tiling of
/// the keys). It computes the same function as `plainAttention`, which tests compare it
/// with; when the backward pass is itself recorded (`createGraph`), the rule differentiates
/// `plainAttention`, so second derivatives are the plain path's.

/// Dropout on attention weights, drawn from a counter-based stream: weight (b, h, i, j) keeps
/// or drops by uniform draw number ((b·H + h)·L + i)·S + j of `stream`, the draw the plain
/// path's `Tensor.uniform([B, H, L, S])` gives it. So a block can draw its part of the mask
/// alone, in the forward pass and again in the backward pass, and the mask is the one the
/// plain path would use.
public struct AttentionDropout: Sendable {
    public let p: Double
    /// The generator as it stands before the mask's first draw.
    public let stream: RandomGenerator

    public init(p: Double, stream: RandomGenerator) {
        check(p >= 0 && p < 1, "AttentionDropout: p must be in [0, 1), got \(p)")
        (self.p, self.stream) = (p, stream)
    }

    /// The factor each weight of rows `rows` is multiplied by: 1/(1 − p) where kept, 0 where
    /// dropped ([B, H, rows, S]).
    func keep(rows: Range<Int>, _ g: AttentionGeometry, dtype: DType) -> Tensor {
        let uniform = Tensor(uninitializedShape: [g.batch, g.heads, rows.count, g.keys], dtype: dtype)
        let run = rows.count * g.keys
        for bh in 0..<(g.batch * g.heads) {
            var generator = stream
            generator.counter &+= UInt64((bh * g.queries + rows.lowerBound) * g.keys)
            switch dtype {
            case .float32: generator.fillUniform(uniform.pointer(Float.self) + bh * run, count: run, low: 0, high: 1)
            default: generator.fillUniform(uniform.pointer(Double.self) + bh * run, count: run, low: 0, high: 1)
            }
        }
        return (uniform .>= p).cast(to: dtype) * (1 / (1 - p))
    }

    /// The whole mask's factors ([B, H, L, S]), as the plain path draws them.
    func keep(_ g: AttentionGeometry, dtype: DType) -> Tensor {
        var generator = stream
        let uniform = Tensor.uniform([g.batch, g.heads, g.queries, g.keys], dtype: dtype, generator: &generator)
        return (uniform .>= p).cast(to: dtype) * (1 / (1 - p))
    }
}

/// The sizes of an attention: q [B, H, L, d], k [B, H, S, d], v [B, H, S, dv].
struct AttentionGeometry {
    let batch: Int, heads: Int, queries: Int, keys: Int

    init(query q: Tensor, key k: Tensor, value v: Tensor, bias: Tensor?) {
        check(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: q, k, v must be [B, H, L|S, d], got \(q.shape), \(k.shape), \(v.shape)")
        check(q.shape[3] == k.shape[3] && k.shape[2] == v.shape[2] && Array(q.shape[0..<2]) == Array(k.shape[0..<2]) && k.shape[0..<2] == v.shape[0..<2],
              "attention: q \(q.shape), k \(k.shape), v \(v.shape) do not fit together")
        check(k.dtype == q.dtype && v.dtype == q.dtype, "attention: q, k, v dtypes differ (\(q.dtype), \(k.dtype), \(v.dtype))")
        (batch, heads, queries, keys) = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        if let bias {
            let target = [batch, heads, queries, keys]
            check(bias.rank <= 4 && zip(bias.shape.reversed(), target.reversed()).allSatisfy { $0 == 1 || $0 == $1 },
                  "attention: bias \(bias.shape) does not broadcast to [B, H, L, S] = \(target)")
        }
    }
}

extension Tensor {
    /// softmax(q·kᵀ·scale + bias)·v, with `dropout` on the weights, a block of query rows at a
    /// time (at most about `blockElements` logits at once). q [B, H, L, d], k [B, H, S, d],
    /// v [B, H, S, dv], bias broadcasting to [B, H, L, S] (masks as −∞, SMCA's spatial map).
    public static func blockwiseAttention(query: Tensor, key: Tensor, value: Tensor, bias: Tensor? = nil, scale: Double,
                                          dropout: AttentionDropout? = nil, blockElements: Int = 1 << 22) -> Tensor {
        let g = AttentionGeometry(query: query, key: key, value: value, bias: bias)
        let (q, k, v) = (query.detached(), key.detached(), value.detached())
        let b = bias.map { $0.detached().reshaped(Array(repeating: 1, count: 4 - $0.rank) + $0.shape) }
        let rows = Swift.max(1, Swift.min(g.queries, blockElements / Swift.max(1, g.batch * g.heads * g.keys)))
        let blocks = stride(from: 0, to: g.queries, by: rows).map { $0..<Swift.min($0 + rows, g.queries) }

        /// Block `r`'s query rows, its softmax weights, the dropout factors (nil without
        /// dropout) and the weights after dropout.
        func weights(_ r: Range<Int>) -> (queries: Tensor, weights: Tensor, keep: Tensor?, dropped: Tensor) {
            let qr = q.slice(axis: 2, start: r.lowerBound, end: r.upperBound)
            var logits = (qr * scale).matmul(k.transposed())
            if let b { logits = logits + (b.shape[2] == 1 ? b : b.slice(axis: 2, start: r.lowerBound, end: r.upperBound)) }
            let w = logits.softmax(axis: -1)
            let keep = dropout?.keep(rows: r, g, dtype: q.dtype)
            return (qr, w, keep, keep.map { w * $0 } ?? w)
        }

        let out = noGrad { Tensor.concat(blocks.map { weights($0).dropped.matmul(v) }, axis: 2) }
        return out.recorded("blockwiseAttention", [query, key, value] + (bias.map { [$0] } ?? [])) { gradOut in
            if GradMode.isEnabled {
                return Tensor.gradientsThroughComposite([query, key, value] + (bias.map { [$0] } ?? []), gradOut) {
                    plainAttention(query: query, key: key, value: value, bias: bias, scale: scale, dropout: dropout).output
                }
            }
            let go = gradOut.detached()
            var gq: [Tensor] = [], gk: Tensor?, gv: Tensor?, gb: [Tensor] = []
            for r in blocks {
                let (qr, w, keep, dropped) = weights(r)
                let gor = go.slice(axis: 2, start: r.lowerBound, end: r.upperBound)
                let gvr = dropped.transposed().matmul(gor)                           // Σ over this block's rows
                gv = gv.map { $0 + gvr } ?? gvr
                var gw = gor.matmul(v.transposed())                                   // ∂/∂ dropped weights
                if let keep { gw = gw * keep }
                let gl = Tensor.softmaxBackward(w, gw, axis: 3)                       // ∂/∂ logits [B, H, rows, S]
                gq.append(gl.matmul(k) * scale)
                let gkr = gl.transposed().matmul(qr) * scale
                gk = gk.map { $0 + gkr } ?? gkr
                if let b, bias?.autograd != nil {
                    gb.append(gl.summed(toShape: [b.shape[0], b.shape[1], b.shape[2] == 1 ? 1 : r.count, b.shape[3]]))
                }
            }
            var gradients: [Tensor?] = [ifTracked(query) { Tensor.concat(gq, axis: 2) }, ifTracked(key) { gk! }, ifTracked(value) { gv! }]
            if let bias {
                gradients.append(ifTracked(bias) {
                    let summed = b!.shape[2] == 1 ? gb.dropFirst().reduce(gb[0], +) : Tensor.concat(gb, axis: 2)
                    return summed.reshaped(bias.shape)
                })
            }
            return gradients
        }
    }

    /// The same attention with the whole [B, H, L, S] matrix at once: the weights are
    /// returned (before dropout), and every operation is on the tape.
    public static func plainAttention(query: Tensor, key: Tensor, value: Tensor, bias: Tensor? = nil, scale: Double,
                                      dropout: AttentionDropout? = nil) -> (output: Tensor, weights: Tensor) {
        let g = AttentionGeometry(query: query, key: key, value: value, bias: bias)
        var logits = (query * scale).matmul(key.transposed())
        if let bias { logits = logits + bias }
        let weights = logits.softmax(axis: -1)
        let dropped = dropout.map { weights * $0.keep(g, dtype: query.dtype) } ?? weights
        return (dropped.matmul(value), weights)
    }
}
