import Foundation
import Tapestry

/// DETR's 2-D sine positional encoding (detr/models/position_encoding.py
/// `PositionEmbeddingSine`; Carion et al., "End-to-End Object Detection with Transformers",
/// 2020), a 2-D form of Vaswani et al.'s sinusoids.
///
/// For a padding mask M [B, H, W] (true = padding), e_y and e_x are cumulative counts of
/// valid cells down each column and along each row, optionally normalized by the last
/// entry and scaled: e ← (e + offset)/(e_last + 10⁻⁶)·scale (Deformable DETR's offset is
/// −0.5, DETR's 0). With f_k = T^(2⌊k/2⌋/F):
/// p_y[..., k] = sin(e_y/f_k) for even k, cos(e_y/f_k) for odd k (same for p_x), and the
/// output is [p_y | p_x] as [B, 2F, H, W].
public struct SinePositionalEncoding: Sendable {
    public var features: Int
    public var temperature: Double
    public var normalize: Bool
    public var scale: Double
    public var offset: Double

    public init(features: Int, temperature: Double = 10000, normalize: Bool = true, scale: Double = 2 * .pi, offset: Double = 0) {
        check(features % 2 == 0, "SinePositionalEncoding: features must be even, got \(features)")
        (self.features, self.temperature, self.normalize, self.scale, self.offset) = (features, temperature, normalize, scale, offset)
    }

    /// Encodings for a mask [B, H, W] (bool or 0/1; true = padding), in `dtype`.
    public func callAsFunction(mask: Tensor, dtype: DType = .float32) -> Tensor {
        check(mask.rank == 3, "SinePositionalEncoding: mask must be [B, H, W], got \(mask.shape)")
        let valid = (mask.dtype == .bool ? mask : mask .!= 0).logicalNot().cast(to: dtype)
        var y = valid.cumsum(axis: 1), x = valid.cumsum(axis: 2)
        if normalize {
            y = (y + offset) / (y.slice(axis: 1, start: -1) + 1e-6) * scale
            x = (x + offset) / (x.slice(axis: 2, start: -1) + 1e-6) * scale
        }
        let frequencies = Tensor((0..<features).map { Foundation.pow(temperature, Double(2 * ($0 / 2)) / Double(features)) },
                                 shape: [features], dtype: dtype)
        func encode(_ e: Tensor) -> Tensor {
            let phase = e.unsqueezed(axis: -1) / frequencies                     // [B, H, W, F]
            let pairs = Tensor.stack([phase.slice(axis: -1, start: 0, step: 2).sin(), phase.slice(axis: -1, start: 1, step: 2).cos()], axis: -1)
            return pairs.reshaped(Array(e.shape) + [features])
        }
        return Tensor.concat([encode(y), encode(x)], axis: -1).permuted([0, 3, 1, 2])
    }
}

/// DETR's learned positional encoding (Carion et al., ECCV 2020; `PositionEmbeddingLearned`):
/// `row_embed` and `col_embed` tables of 50 positions; the output at cell (i, j) is
/// [col_embed[j] | row_embed[i]] (x embedding, then y),
/// [B, 2F, H, W] (x first, unlike the sine encoding).
public final class LearnedPositionalEncoding: Module {
    public let rowEmbed: Embedding
    public let colEmbed: Embedding

    public init(features: Int, positions: Int = 50) {
        rowEmbed = Embedding(positions, features)
        colEmbed = Embedding(positions, features)
        rowEmbed.weight.value = Initialization.uniform([positions, features], bound: 1).abs()
        colEmbed.weight.value = Initialization.uniform([positions, features], bound: 1).abs()
    }

    public func callAsFunction(batch: Int, height: Int, width: Int) -> Tensor {
        check(height <= rowEmbed.weight.shape[0] && width <= colEmbed.weight.shape[0],
              "LearnedPositionalEncoding: a \(height)×\(width) map exceeds the \(rowEmbed.weight.shape[0]) learned positions")
        let f = rowEmbed.weight.shape[1]
        let x = colEmbed(Tensor.arange(0, Double(width), dtype: .int64)).unsqueezed(axis: 0).expanded(to: [height, width, f])
        let y = rowEmbed(Tensor.arange(0, Double(height), dtype: .int64)).unsqueezed(axis: 1).expanded(to: [height, width, f])
        return Tensor.concat([x, y], axis: -1).permuted([2, 0, 1]).unsqueezed(axis: 0).expanded(to: [batch, 2 * f, height, width])
    }
}
