import Tapestry

/// Loss functions, with PyTorch's definitions and reductions.
public enum Losses {
    public enum Reduction: Sendable { case none, mean, sum }

    static func reduce(_ t: Tensor, _ reduction: Reduction) -> Tensor {
        switch reduction {
        case .none: return t
        case .mean: return t.mean()
        case .sum: return t.sum()
        }
    }

    /// Cross-entropy over the last axis (`F.cross_entropy` with the class axis last):
    /// ℓᵢ = −w[yᵢ]·log softmax(xᵢ)[yᵢ]. `mean` divides by Σ w[yᵢ] over the entries that are not
    /// `ignoreIndex` (PyTorch's weighted mean); `none` returns ℓ with ignored entries 0.
    public static func crossEntropy(logits: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int64? = nil,
                                    reduction: Reduction = .mean) -> Tensor {
        check(targets.dtype == .int64, "crossEntropy: targets must be int64 class indices, got \(targets.dtype)")
        check(Array(logits.shape.dropLast()) == targets.shape, "crossEntropy: logits \(logits.shape) and targets \(targets.shape) do not fit (class axis last)")
        let classes = logits.shape[logits.rank - 1]
        let valid = ignoreIndex.map { targets .!= Tensor(scalar: Double($0), dtype: .int64) } ?? Tensor.ones(targets.shape, dtype: .bool)
        let safeTargets = Tensor.where(valid, targets, Tensor.zeros([], dtype: .int64))
        let picked = logits.logSoftmax(axis: -1).gather(axis: -1, index: safeTargets.unsqueezed(axis: -1)).squeezed(axis: -1)
        var w = valid.cast(to: logits.dtype)
        if let weight {
            check(weight.shape == [classes], "crossEntropy: class weights must be [\(classes)], got \(weight.shape)")
            w = w * weight.cast(to: logits.dtype).indexSelect(axis: 0, index: safeTargets.reshaped([-1])).reshaped(targets.shape)
        }
        let losses = -picked * w
        switch reduction {
        case .none: return losses
        case .sum: return losses.sum()
        case .mean: return losses.sum() / w.sum()
        }
    }

    /// Binary cross-entropy on logits, stably: max(x, 0) − x·t + log(1 + e^{−|x|}).
    public static func binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
        let t = targets.cast(to: logits.dtype)
        let elementwise = logits.relu() - logits * t + (-logits.abs()).exp().log1p()
        return reduce(elementwise, reduction)
    }

    /// Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017), per
    /// element: α_t·BCE(x, t)·(1 − p_t)^γ with p = σ(x), p_t = p·t + (1 − p)(1 − t),
    /// α_t = α·t + (1 − α)(1 − t). Returns the element-wise loss (reduce as the model does).
    public static func sigmoidFocalLoss(logits: Tensor, targets: Tensor, alpha: Double = 0.25, gamma: Double = 2) -> Tensor {
        let t = targets.cast(to: logits.dtype)
        let p = logits.sigmoid()
        let ce = binaryCrossEntropyWithLogits(logits: logits, targets: t, reduction: .none)
        let pt = p * t + (1 - p) * (1 - t)
        var loss = ce * (1 - pt).pow(gamma)
        if alpha >= 0 { loss = loss * (t * alpha + (1 - t) * (1 - alpha)) }
        return loss
    }

    /// Mean (or sum) absolute error |x − y|.
    public static func l1(_ x: Tensor, _ y: Tensor, reduction: Reduction = .mean) -> Tensor { reduce((x - y).abs(), reduction) }

    /// Smooth L1 (Huber with slope 1): 0.5·d²/β where |d| < β, else |d| − 0.5·β.
    public static func smoothL1(_ x: Tensor, _ y: Tensor, beta: Double = 1, reduction: Reduction = .mean) -> Tensor {
        let d = (x - y).abs()
        let elementwise = beta > 0 ? Tensor.where(d .< beta, d * d * (0.5 / beta), d - 0.5 * beta) : d
        return reduce(elementwise, reduction)
    }
}

