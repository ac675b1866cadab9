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
///
/// Sampling and the value projection are both linear, so they commute:
///
///     Σ A · (W_v x + b_v)(p) = W_v · Σ A · x(p) + b_v · Σ A · 1_valid(p)
///
/// where the last sum is the attention mass that falls on unpadded tokens inside the level.
/// When there are far fewer queries than tokens (the decoder's cross-attention) the layer
/// samples the input first and projects only each head's sampled vector
/// (`ProjectionOrder.sampleThenProject`): the projection then costs Lq·d² instead of S·d².
///
/// An active `AttentionRecorder` receives every call's sampling locations and weights.
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
    /// Whether the value projection comes before or after sampling (`.automatic`: the cheaper).
    public var projectionOrder = ProjectionOrder.automatic

    /// The order of the value projection and the sampling; both give the same function.
    public enum ProjectionOrder: Sendable {
        /// Project every input token, then sample each head's channels (the original's order).
        case projectThenSample
        /// Sample each head's points from the input's d channels, then project the sums.
        case sampleThenProject
        /// The order with fewer estimated operations for the call's sizes.
        case automatic
    }

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
        let padding = paddingMask.map { ($0.dtype == .bool ? $0 : $0 .!= 0).unsqueezed(axis: -1) }
        let offsets = samplingOffsets(query).reshaped([b, lq, heads, levels * points * 2])
        let weights = attentionWeights(query).reshaped([b, lq, heads, levels * points]).softmax(axis: -1)
            .reshaped([b, lq, heads, levels, points])
        // A reference point's (x, y) repeated for each of its level's points, [B, Lq, 1, L·P·2]:
        // the sums and products below then run on rows of L·P·2 values, not on rows of 2.
        func perPoint(_ xy: Tensor) -> Tensor {
            xy.reshaped([b, lq, levels, 1, 2]).expanded(to: [b, lq, levels, points, 2]).contiguous().reshaped([b, lq, 1, levels * points * 2])
        }
        let locations: Tensor
        if referencePoints.shape[3] == 2 {
            // (W_l, H_l) for each (level, point) of an offset.
            let normalizer = Tensor(spatialShapes.flatMap { shape in (0..<points).flatMap { _ in [Double(shape.1), Double(shape.0)] } },
                                    shape: [levels * points * 2], dtype: query.dtype)
            locations = (perPoint(referencePoints) + offsets / normalizer).reshaped([b, lq, heads, levels, points, 2])
        } else {
            let (centre, size) = (perPoint(referencePoints.slice(axis: 3, end: 2)), perPoint(referencePoints.slice(axis: 3, start: 2)))
            locations = (centre + offsets / Double(points) * size * 0.5).reshaped([b, lq, heads, levels, points, 2])
        }
        AttentionRecorder.active?.addSampling(self, locations: locations, weights: weights, spatialShapes: spatialShapes)
        let sample = { (value: Tensor) in
            self.fused
                ? Tensor.deformableSampling(value: value, spatialShapes: spatialShapes, locations: locations, weights: weights)
                : Tensor.compositeDeformableSampling(value: value, spatialShapes: spatialShapes, locations: locations, weights: weights)
        }
        if samplesFirst(queries: lq, tokens: s) {
            // Each head's attention-weighted sum of the input, [B, Lq, M, d], and the mass of
            // its weights on valid tokens, [B, Lq, M].
            let ones = Tensor.ones([b, s, 1], dtype: input.dtype)
            let validity = padding.map { ones.maskedFill($0, value: 0) } ?? ones
            let sampledInput = sample((padding.map { input.maskedFill($0, value: 0) } ?? input).reshaped([b, s, 1, d]))
            let mass = sample(validity.reshaped([b, s, 1, 1]))
            // Head m's rows of W_v applied to head m's sum: [M, B·Lq, d] · [M, d, d/M].
            let dh = d / heads
            let perHead = sampledInput.reshaped([b * lq, heads, d]).permuted([1, 0, 2])
                .matmul(valueProj.weight.value.reshaped([heads, dh, d]).transposed(1, 2))
            let projected = perHead.permuted([1, 0, 2]).reshaped([b, lq, heads, dh])
                + mass.reshaped([b, lq, heads, 1]) * valueProj.bias!.value.reshaped([heads, dh])
            return outputProj(projected.reshaped([b, lq, d]))
        }
        var value = valueProj(input)
        if let padding { value = value.maskedFill(padding, value: 0) }
        return outputProj(sample(value.reshaped([b, s, heads, d / heads])))
    }

    /// Whether sampling before projecting costs fewer multiply-adds for Lq queries over S
    /// tokens: projecting first costs S·d² + Lq·M·L·P·4·d/M (the projection, then four
    /// neighbours of d/M channels per sample); sampling first costs Lq·M·L·P·4·d + Lq·d²
    /// (four neighbours of all d channels per sample, then each head's projection).
    func samplesFirst(queries lq: Int, tokens s: Int) -> Bool {
        switch projectionOrder {
        case .projectThenSample: return false
        case .sampleThenProject: return true
        case .automatic:
            let d = valueProj.inFeatures, samples = heads * levels * points * 4
            return lq * samples * d + lq * d * d < s * d * d + lq * samples * (d / heads)
        }
    }
}
