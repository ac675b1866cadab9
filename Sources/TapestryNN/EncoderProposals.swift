import Foundation
import Tapestry

/// Two-stage Deformable DETR's proposals from the encoder (Zhu et al., ICLR 2021, §4.2;
/// Deformable-DETR `gen_encoder_output_proposals`, `get_proposal_pos_embed`).
///
/// Token (i, j) of level l proposes the box centred at ((j + ½)/W_valid, (i + ½)/H_valid) of
/// size 0.05·2^l in both directions, in unnormalized form log(p/(1 − p)). A proposal is kept
/// when all four numbers lie strictly inside (0.01, 0.99); padded tokens and dropped
/// proposals get +∞ (their box becomes exactly 1 after the sigmoid) and their memory is
/// zeroed.
public struct EncoderProposals {
    /// The memory [B, S, d] with padded and dropped tokens set to 0.
    public let memory: Tensor
    /// The proposals [B, S, 4] in unnormalized (inverse-sigmoid) form, +∞ where dropped.
    public let boxes: Tensor

    public init(memory: Tensor, paddingMask: Tensor, spatialShapes: [(Int, Int)]) {
        let b = memory.shape[0], dtype = memory.dtype
        var start = 0
        let perLevel = spatialShapes.enumerated().map { l, shape -> Tensor in
            let (h, w) = shape
            let valid = paddingMask.slice(axis: 1, start: start, end: start + h * w).reshaped([b, h, w]).logicalNot().cast(to: dtype)
            start += h * w
            let validHeight = valid.select(axis: 2, index: 0).sum(axis: 1).reshaped([b, 1]), validWidth = valid.select(axis: 1, index: 0).sum(axis: 1).reshaped([b, 1])
            let ys = Tensor.arange(0, Double(h), dtype: dtype).reshaped([h, 1]).expanded(to: [h, w]).reshaped([1, h * w])
            let xs = Tensor.arange(0, Double(w), dtype: dtype).reshaped([1, w]).expanded(to: [h, w]).reshaped([1, h * w])
            let size = Tensor.full([b, h * w], value: 0.05 * Foundation.pow(2, Double(l)), dtype: dtype)
            return Tensor.stack([(xs + 0.5) / validWidth, (ys + 0.5) / validHeight, size, size], axis: -1)            // [B, HW, 4]
        }
        let proposals = Tensor.concat(perLevel, axis: 1)
        let keep = ((proposals .> 0.01).cast(to: dtype) * (proposals .< 0.99).cast(to: dtype)).sum(axis: -1, keepDim: true) .== 4
        let dropped = keep.logicalNot().logicalOr(paddingMask.unsqueezed(axis: -1))                                   // [B, S, 1]
        boxes = (proposals / (1 - proposals)).log().maskedFill(dropped, value: .infinity)
        self.memory = memory.maskedFill(dropped, value: 0)
    }

    /// Features per coordinate of `positionEmbedding` (hard-coded in the original).
    public static let embeddingFeatures = 128

    /// The sine embedding of unnormalized boxes [B, Q, 4] → [B, Q, 512]: for coordinate c,
    /// v = σ(c)·2π and features 2k, 2k + 1 = sin, cos of v / 10000^(2k/128), at index c·128 + f.
    public static func positionEmbedding(_ boxes: Tensor) -> Tensor {
        let f = embeddingFeatures
        let frequencies = Tensor((0..<f).map { Foundation.pow(10000, Double(2 * ($0 / 2)) / Double(f)) }, shape: [f], dtype: boxes.dtype)
        let phase = (boxes.sigmoid() * (2 * Double.pi)).unsqueezed(axis: -1) / frequencies                      // [B, Q, 4, f]
        let pairs = Tensor.stack([phase.slice(axis: -1, start: 0, step: 2).sin(), phase.slice(axis: -1, start: 1, step: 2).cos()], axis: -1)
        return pairs.reshaped([boxes.shape[0], boxes.shape[1], 4 * f])
    }
}
