/// Stand-alone local self-attention (SASA) as one fused operation with a hand-written
/// backward pass (kernels in ReferenceKernels+LocalAttention.swift). It reads each k×k
/// neighbourhood in place instead of unfolding k² copies of keys and values, and computes
/// the same function as the composite `unfold` formulation (`compositeLocalAttention`),
/// which tests compare it with. When the backward pass is itself recorded (`createGraph`),
/// the rule differentiates the composite instead, so second derivatives are the composite's.

extension Tensor {
    /// query, key, value [B, C, H, W] (C = heads·d), relative [heads, d, k²] → [B, C, H, W]:
    ///
    ///     y[n, t, i, j] = Σ_{a,b} softmax_{ab}( Σ_t q[n,t,i,j]·(k[n,t,i+a−p,j+b−p] + R[n,t,a·k+b]) ) · v[n,t,i+a−p,j+b−p]
    ///
    /// with p = (k − 1)/2 and keys and values 0 outside the image (such neighbours keep
    /// their logit q·R and stay in the softmax).
    public static func localAttention(query: Tensor, key: Tensor, value: Tensor, relative: Tensor, heads: Int, kernelSize: Int) -> Tensor {
        let g = LocalAttentionGeometry(query: query, key: key, value: value, relative: relative, heads: heads, kernelSize: kernelSize)
        let (q, k, v, r) = (query.detached().contiguous(), key.detached().contiguous(), value.detached().contiguous(), relative.detached().contiguous())
        let out = Tensor(uninitializedShape: q.shape, dtype: q.dtype)
        let weights = Tensor(uninitializedShape: [g.batch, heads, g.window, PaddedMaps(g).size], dtype: q.dtype)
        struct Forward: FloatKernel {
            let q: Tensor, k: Tensor, v: Tensor, r: Tensor, out: Tensor, weights: Tensor, g: LocalAttentionGeometry
            func run<T: FloatElement>(_: T.Type) {
                LocalAttentionKernels.forward(q.pointer(T.self), k.pointer(T.self), v.pointer(T.self), r.pointer(T.self),
                                              out.pointer(T.self), weights.pointer(T.self), g)
            }
        }
        q.dtype.dispatchFloat(Forward(q: q, k: k, v: v, r: r, out: out, weights: weights, g: g), operation: "localAttention")
        return out.recorded("localAttention", [query, key, value, relative]) { grad in
            if GradMode.isEnabled {
                return Tensor.gradientsThroughComposite([query, key, value, relative], grad) {
                    compositeLocalAttention(query: query, key: key, value: value, relative: relative, heads: heads, kernelSize: kernelSize)
                }
            }
            let (gq, gk, gv) = (Tensor(uninitializedShape: q.shape, dtype: q.dtype), Tensor(uninitializedShape: q.shape, dtype: q.dtype),
                                Tensor(uninitializedShape: q.shape, dtype: q.dtype))
            let gr = Tensor(uninitializedShape: [g.batch] + r.shape, dtype: q.dtype)
            struct Backward: FloatKernel {
                let q: Tensor, k: Tensor, v: Tensor, r: Tensor, weights: Tensor, gy: Tensor, gq: Tensor, gk: Tensor, gv: Tensor, gr: Tensor
                let g: LocalAttentionGeometry
                func run<T: FloatElement>(_: T.Type) {
                    LocalAttentionKernels.backward(q.pointer(T.self), k.pointer(T.self), v.pointer(T.self), r.pointer(T.self), weights.pointer(T.self),
                                                   gy.pointer(T.self), gq.pointer(T.self), gk.pointer(T.self), gv.pointer(T.self), gr.pointer(T.self), g)
                }
            }
            q.dtype.dispatchFloat(Backward(q: q, k: k, v: v, r: r, weights: weights, gy: grad.detached().contiguous(), gq: gq, gk: gk, gv: gv, gr: gr, g: g),
                                  operation: "localAttention backward")
            return [gq, gk, gv, gr.sum(axis: 0)]
        }
    }

    /// The same function through `unfold` (k² copies of the zero-padded keys and values),
    /// as the SASA reference code computes it.
    public static func compositeLocalAttention(query: Tensor, key: Tensor, value: Tensor, relative: Tensor, heads: Int, kernelSize: Int) -> Tensor {
        let g = LocalAttentionGeometry(query: query, key: key, value: value, relative: relative, heads: heads, kernelSize: kernelSize)
        let weights = localAttentionWeights(query: query, key: key, relative: relative, heads: heads, kernelSize: kernelSize)
        return (weights.unsqueezed(axis: 2) * g.windows(value)).sum(axis: 3).reshaped([g.batch, heads * g.channels, g.height, g.width])
    }

    /// The attention weights of `localAttention`, [B, heads, k², H·W]: for each head and
    /// pixel (i, j), the softmax over the window offsets a·k + b of q_ij·(k_{i+a−p, j+b−p} + R_ab)
    /// (neighbours outside the image included, with key 0).
    public static func localAttentionWeights(query: Tensor, key: Tensor, relative: Tensor, heads: Int, kernelSize: Int) -> Tensor {
        let g = LocalAttentionGeometry(query: query, key: key, value: key, relative: relative, heads: heads, kernelSize: kernelSize)
        let q = query.reshaped([g.batch, heads, g.channels, 1, g.pixels])
        let logits = (q * (g.windows(key) + relative.reshaped([1, heads, g.channels, g.window, 1]))).sum(axis: 2)
        return logits.softmax(axis: 2)
    }
}

/// The sizes of a local attention: batch, heads, channels per head, the map and the window.
struct LocalAttentionGeometry: Sendable {
    let batch: Int, heads: Int, channels: Int, height: Int, width: Int, kernelSize: Int
    var padding: Int { (kernelSize - 1) / 2 }
    var pixels: Int { height * width }
    var window: Int { kernelSize * kernelSize }

    /// Each pixel's k×k neighbourhood of x [B, heads·d, H, W] (zero-padded), [B, heads, d, k², H·W].
    func windows(_ x: Tensor) -> Tensor {
        x.unfold(kernel: (kernelSize, kernelSize), padding: (padding, padding)).reshaped([batch, heads, channels, window, pixels])
    }

    init(query: Tensor, key: Tensor, value: Tensor, relative: Tensor, heads: Int, kernelSize: Int) {
        check(query.rank == 4 && key.shape == query.shape && value.shape == query.shape,
              "localAttention: query, key and value must be [B, C, H, W] alike; got \(query.shape), \(key.shape), \(value.shape)")
        check(kernelSize >= 1 && kernelSize % 2 == 1, "localAttention: the window side must be odd, got \(kernelSize)")
        check(heads >= 1 && query.shape[1] % heads == 0, "localAttention: \(query.shape[1]) channels do not split into \(heads) heads")
        let d = query.shape[1] / heads
        check(relative.shape == [heads, d, kernelSize * kernelSize],
              "localAttention: the relative table must be [heads, d, k²] = [\(heads), \(d), \(kernelSize * kernelSize)], got \(relative.shape)")
        check(key.dtype == query.dtype && value.dtype == query.dtype && relative.dtype == query.dtype, "localAttention: dtypes differ")
        (batch, self.heads, channels, height, width, self.kernelSize) = (query.shape[0], heads, d, query.shape[2], query.shape[3], kernelSize)
    }
}
