/// Multi-scale deformable sampling as one fused operation with a hand-written backward
/// pass (kernels in ReferenceKernels+Deformable.swift). It computes the same function as
/// the composite `gridSample` formulation (`compositeDeformableSampling`), which tests
/// compare it with. Its backward rule is a kernel; when the backward pass is itself
/// recorded (`createGraph`), the rule differentiates the composite instead, so second
/// derivatives are those of the composite.

extension Tensor {
    /// value [B, S, M, C] (or [B, S, 1, C]: every head samples the same values), locations
    /// [B, Lq, M, L, P, 2] (normalized x, y), weights [B, Lq, M, L, P] → [B, Lq, M·C]:
    /// Σ_{l,p} weight · bilinear sample of level l at the location.
    public static func deformableSampling(value: Tensor, spatialShapes: [(Int, Int)], locations: Tensor, weights: Tensor) -> Tensor {
        check(value.rank == 4 && locations.rank == 6 && weights.rank == 5 && locations.shape[5] == 2,
              "deformableSampling: value [B, S, M, C], locations [B, Lq, M, L, P, 2], weights [B, Lq, M, L, P] expected; got \(value.shape), \(locations.shape), \(weights.shape)")
        let (b, s, m, c) = (value.shape[0], value.shape[1], locations.shape[2], value.shape[3])
        let (lq, l, p) = (locations.shape[1], locations.shape[3], locations.shape[4])
        check(locations.shape == [b, lq, m, l, p, 2] && weights.shape == [b, lq, m, l, p] && spatialShapes.count == l
                && (value.shape[2] == m || value.shape[2] == 1),
              "deformableSampling: shapes disagree: value \(value.shape), locations \(locations.shape), weights \(weights.shape), \(spatialShapes.count) levels")
        check(value.dtype == locations.dtype && value.dtype == weights.dtype, "deformableSampling: dtypes differ")
        var levels: [DeformableGeometry.LevelShape] = []
        var start = 0
        for (h, w) in spatialShapes {
            levels.append(.init(start: start, height: h, width: w))
            start += h * w
        }
        check(start == s, "deformableSampling: level shapes \(spatialShapes) cover \(start) tokens, value has \(s)")
        let geometry = DeformableGeometry(batch: b, tokens: s, heads: m, valueHeads: value.shape[2], channels: c, queries: lq,
                                          points: p, levels: levels)
        let v = value.detached().contiguous(), loc = locations.detached().contiguous(), w = weights.detached().contiguous()
        let out = Tensor(uninitializedShape: [b, lq, m * c], dtype: value.dtype)
        struct Forward: FloatKernel {
            let v: Tensor, loc: Tensor, w: Tensor, out: Tensor, g: DeformableGeometry
            func run<T: FloatElement>(_: T.Type) {
                backend.deformableSampling(v.pointer(T.self), loc.pointer(T.self), w.pointer(T.self), out.pointer(T.self), g)
            }
        }
        value.dtype.dispatchFloat(Forward(v: v, loc: loc, w: w, out: out, g: geometry), operation: "deformableSampling")
        return out.recorded("deformableSampling", [value, locations, weights]) { grad in
            if GradMode.isEnabled {
                // createGraph: gradients as differentiable tensor ops, through the composite.
                return Tensor.gradientsThroughComposite([value, locations, weights], grad) {
                    compositeDeformableSampling(value: value, spatialShapes: spatialShapes, locations: locations, weights: weights)
                }
            }
            let gValue = value.requiresGrad ? Tensor.zeros(v.shape, dtype: v.dtype) : nil
            let gLoc = Tensor.zeros(loc.shape, dtype: v.dtype), gWeights = Tensor.zeros(w.shape, dtype: v.dtype)
            struct Backward: FloatKernel {
                let v: Tensor, loc: Tensor, w: Tensor, grad: Tensor, gValue: Tensor?, gLoc: Tensor, gWeights: Tensor, g: DeformableGeometry
                func run<T: FloatElement>(_: T.Type) {
                    backend.deformableSamplingBackward(v.pointer(T.self), loc.pointer(T.self), w.pointer(T.self), grad.pointer(T.self),
                                                       gValue?.pointer(T.self), gLoc.pointer(T.self), gWeights.pointer(T.self), g)
                }
            }
            v.dtype.dispatchFloat(Backward(v: v, loc: loc, w: w, grad: grad.detached().contiguous(), gValue: gValue, gLoc: gLoc,
                                           gWeights: gWeights, g: geometry), operation: "deformableSampling backward")
            return [gValue, gLoc, gWeights]
        }
    }

    /// The reference formulation through `gridSample` (Deformable-DETR's
    /// `ms_deform_attn_core_pytorch`): value [B, S, M, C] (or [B, S, 1, C], shared by the
    /// heads), locations [B, Lq, M, L, P, 2], weights [B, Lq, M, L, P] → [B, Lq, M·C].
    public static func compositeDeformableSampling(value: Tensor, spatialShapes: [(Int, Int)], locations: Tensor, weights: Tensor) -> Tensor {
        let (b, s, m, dh) = (value.shape[0], value.shape[1], locations.shape[2], value.shape[3])
        let (lq, levels, points) = (locations.shape[1], locations.shape[3], locations.shape[4])
        let value = value.expanded(to: [b, s, m, dh])
        let grids = locations * 2 - 1
        var start = 0
        var perLevel: [Tensor] = []
        for (l, (h, w)) in spatialShapes.enumerated() {
            let level = value.slice(axis: 1, start: start, end: start + h * w)              // [B, HW, M, Dh]
                .permuted([0, 2, 3, 1]).reshaped([b * m, dh, h, w])
            let grid = grids.select(axis: 3, index: l).permuted([0, 2, 1, 3, 4]).reshaped([b * m, lq, points, 2])
            perLevel.append(level.gridSample(grid))                                             // [B·M, Dh, Lq, P]
            start += h * w
        }
        let samples = Tensor.stack(perLevel, axis: 3).reshaped([b * m, dh, lq, levels * points])
        let attention = weights.permuted([0, 2, 1, 3, 4]).reshaped([b * m, 1, lq, levels * points])
        return (samples * attention).sum(axis: -1).reshaped([b, m * dh, lq]).transposed(1, 2)
    }
}
