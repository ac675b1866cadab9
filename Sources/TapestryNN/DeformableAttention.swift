import Foundation
import Tapestry

/// Multi-scale deformable attention (Zhu et al., "Deformable DETR: Deformable Transformers for
/// End-to-End Object Detection", ICLR 2021, eq. 3; Deformable-DETR `MSDeformAttn`).
///
/// Each query attends to P sampled points per head m and feature level l, around its
/// reference point p̂_l, at learned offsets Δp:
///
///     MSDeformAttn(z_q, p̂_q, {x_l}) = W_o · concat_m Σ_l Σ_k A_mlqk · W_v x_l(p̂_l + Δp_mlqk)
///
/// with A = softmax over the L·P (level, point) pairs of each head, x_l(·) bilinear sampling
/// with grid_sample's pixel-centre convention and zero padding, and offsets in pixels of
/// level l (2-d references) or scaled by the reference box (4-d references:
/// p̂ + Δp/P·(w, h)/2). Parameter names and initialization follow the original.
public final class MultiScaleDeformableAttention: Module {
    public let samplingOffsets: Linear
    public let attentionWeights: Linear
    public let valueProj: Linear
    public let outputProj: Linear
    public let heads: Int
    public let levels: Int
    public let points: Int
    /// Use the fused sampling kernel (true) or the composite grid-sample version (false).
    public var fused = true

    public init(dModel: Int = 256, levels: Int = 4, heads: Int = 8, points: Int = 4) {
        check(dModel % heads == 0, "MultiScaleDeformableAttention: d_model \(dModel) is not divisible by \(heads) heads")
        samplingOffsets = Linear(dModel, heads * levels * points * 2)
        attentionWeights = Linear(dModel, heads * levels * points)
        valueProj = Linear(dModel, dModel)
        outputProj = Linear(dModel, dModel)
        (self.heads, self.levels, self.points) = (heads, levels, points)
        super.init()
        resetParameters()
    }

    /// The original initialization: zero offset weights with biases that point head m in
    /// direction θ_m = 2πm/M at distances 1…P; uniform attention; Xavier projections.
    public func resetParameters() {
        let dModel = valueProj.inFeatures
        samplingOffsets.weight.value = Tensor.zeros(samplingOffsets.weight.shape)
        var bias: [Double] = []
        for m in 0..<heads {
            let theta = 2 * Double.pi * Double(m) / Double(heads)
            let (c, s) = (Foundation.cos(theta), Foundation.sin(theta))
            let scale = Swift.max(Swift.abs(c), Swift.abs(s))
            for _ in 0..<levels { for p in 0..<points { bias += [c / scale * Double(p + 1), s / scale * Double(p + 1)] } }
        }
        samplingOffsets.bias!.value = Tensor(bias, shape: [bias.count], dtype: .float32)
        attentionWeights.weight.value = Tensor.zeros(attentionWeights.weight.shape)
        attentionWeights.bias!.value = Tensor.zeros(attentionWeights.bias!.shape)
        for projection in [valueProj, outputProj] {
            projection.weight.value = Initialization.xavierUniform([dModel, dModel])
            projection.bias!.value = Tensor.zeros([dModel])
        }
    }

    /// - Parameters:
    ///   - query: [B, Lq, d].
    ///   - referencePoints: [B, Lq, L, 2] normalized (x, y), or [B, Lq, L, 4] boxes (cx, cy, w, h).
    ///   - input: the flattened feature levels [B, S, d], S = Σ H_l·W_l, level by level.
    ///   - spatialShapes: (H_l, W_l) of each level.
    ///   - paddingMask: [B, S], true where the input is padding (its values are zeroed).
    public func callAsFunction(query: Tensor, referencePoints: Tensor, input: Tensor, spatialShapes: [(Int, Int)],
                               paddingMask: Tensor? = nil) -> Tensor {
        let (b, lq, d) = (query.shape[0], query.shape[1], query.shape[2])
        let s = input.shape[1]
        check(spatialShapes.count == levels && spatialShapes.reduce(0) { $0 + $1.0 * $1.1 } == s,
              "MultiScaleDeformableAttention: \(spatialShapes.count) level shapes \(spatialShapes) do not cover the \(s) input tokens of \(levels) levels")
        check(referencePoints.shape == [b, lq, levels, 2] || referencePoints.shape == [b, lq, levels, 4],
              "MultiScaleDeformableAttention: reference points must be [\(b), \(lq), \(levels), 2 or 4], got \(referencePoints.shape)")
        let dh = d / heads
        var value = valueProj(input)
        if let paddingMask { value = value.maskedFill((paddingMask.dtype == .bool ? paddingMask : paddingMask .!= 0).unsqueezed(axis: -1), value: 0) }
        value = value.reshaped([b, s, heads, dh])
        let offsets = samplingOffsets(query).reshaped([b, lq, heads, levels, points, 2])
        let weights = attentionWeights(query).reshaped([b, lq, heads, levels * points]).softmax(axis: -1)
            .reshaped([b, lq, heads, levels, points])
        let locations: Tensor
        if referencePoints.shape[3] == 2 {
            let normalizer = Tensor(spatialShapes.flatMap { [Double($0.1), Double($0.0)] }, shape: [levels, 1, 2], dtype: query.dtype)
            locations = referencePoints.reshaped([b, lq, 1, levels, 1, 2]) + offsets / normalizer
        } else {
            let centre = referencePoints.slice(axis: 3, end: 2).reshaped([b, lq, 1, levels, 1, 2])
            let size = referencePoints.slice(axis: 3, start: 2).reshaped([b, lq, 1, levels, 1, 2])
            locations = centre + offsets / Double(points) * size * 0.5
        }
        let sampled = fused
            ? Tensor.deformableSampling(value: value, spatialShapes: spatialShapes, locations: locations, weights: weights)
            : Tensor.compositeDeformableSampling(value: value, spatialShapes: spatialShapes, locations: locations, weights: weights)
        return outputProj(sampled)
    }
}
