import Foundation
import Tapestry

/// Deformable DETR's encoder layer (Zhu et al., "Deformable DETR: Deformable Transformers
/// for End-to-End Object Detection", ICLR 2021; Deformable-DETR
/// `DeformableTransformerEncoderLayer`), post-norm, over the flattened multi-scale tokens:
///
///     x = norm1(x + MSDeformAttn(x + pos, ref, x));  x = norm2(x + linear2(relu(linear1(x))))
public final class DeformableTransformerEncoderLayer: Module {
    public let selfAttn: MultiScaleDeformableAttention
    public let dropout1: Dropout
    public let norm1: LayerNorm
    public let linear1: Linear
    public let dropout2: Dropout
    public let linear2: Linear
    public let dropout3: Dropout
    public let norm2: LayerNorm

    public init(dModel: Int, feedforward: Int, dropout: Double, levels: Int, heads: Int, points: Int) {
        selfAttn = MultiScaleDeformableAttention(dModel: dModel, levels: levels, heads: heads, points: points)
        (dropout1, dropout2, dropout3) = (Dropout(dropout), Dropout(dropout), Dropout(dropout))
        (norm1, norm2) = (LayerNorm(dModel), LayerNorm(dModel))
        (linear1, linear2) = (Linear(dModel, feedforward), Linear(feedforward, dModel))
    }

    /// source, position [B, S, d]; referencePoints [B, S, L, 2]; paddingMask [B, S].
    public func callAsFunction(_ source: Tensor, position: Tensor, referencePoints: Tensor, spatialShapes: [(Int, Int)], paddingMask: Tensor) -> Tensor {
        let attended = selfAttn(query: source + position, referencePoints: referencePoints, input: source,
                                spatialShapes: spatialShapes, paddingMask: paddingMask)
        let x = norm1(source + dropout1(attended))
        return norm2(x + dropout3(linear2(dropout2(linear1(x).relu()))))
    }
}

/// Deformable DETR's decoder layer (Zhu et al., "Deformable DETR", ICLR 2021;
/// `DeformableTransformerDecoderLayer`), post-norm:
/// self-attention among the queries (norm2), deformable cross-attention into the encoder
/// memory (norm1 — the original's names), feed-forward (norm3):
///
///     t = norm2(t + MHA(t + q_pos, t + q_pos, t));  t = norm1(t + MSDeformAttn(t + q_pos, ref, memory))
///     t = norm3(t + linear2(relu(linear1(t))))
public final class DeformableTransformerDecoderLayer: Module {
    public let crossAttn: MultiScaleDeformableAttention
    public let dropout1: Dropout
    public let norm1: LayerNorm
    public let selfAttn: MultiheadAttention
    public let dropout2: Dropout
    public let norm2: LayerNorm
    public let linear1: Linear
    public let dropout3: Dropout
    public let linear2: Linear
    public let dropout4: Dropout
    public let norm3: LayerNorm

    public init(dModel: Int, feedforward: Int, dropout: Double, levels: Int, heads: Int, points: Int) {
        crossAttn = MultiScaleDeformableAttention(dModel: dModel, levels: levels, heads: heads, points: points)
        selfAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout, batchFirst: true)
        (dropout1, dropout2, dropout3, dropout4) = (Dropout(dropout), Dropout(dropout), Dropout(dropout), Dropout(dropout))
        (norm1, norm2, norm3) = (LayerNorm(dModel), LayerNorm(dModel), LayerNorm(dModel))
        (linear1, linear2) = (Linear(dModel, feedforward), Linear(feedforward, dModel))
    }

    /// target, queryPosition [B, Q, d]; referencePoints [B, Q, L, 2 or 4]; memory [B, S, d].
    public func callAsFunction(_ target: Tensor, queryPosition: Tensor, referencePoints: Tensor, memory: Tensor,
                               spatialShapes: [(Int, Int)], paddingMask: Tensor) -> Tensor {
        let q = target + queryPosition
        var t = norm2(target + dropout2(selfAttn(query: q, key: q, value: target, needWeights: false).output))
        t = norm1(t + dropout1(crossAttn(query: t + queryPosition, referencePoints: referencePoints, input: memory,
                                         spatialShapes: spatialShapes, paddingMask: paddingMask)))
        return norm3(t + dropout4(linear2(dropout3(linear1(t).relu()))))
    }
}

/// Deformable DETR's decoder stack (Zhu et al., ICLR 2021, §4.1 and appendix A.4;
/// `DeformableTransformerDecoder`, return_intermediate): before each
/// layer the reference (normalized to the unpadded image) is mapped to each level's padded
/// canvas by the valid ratios. With iterative box refinement (`bboxEmbed`, one head per
/// layer) layer k's output refines the reference: r ← σ(Δ + σ⁻¹(r)) for a 4-d box, or the
/// centre only for a 2-d point (which becomes a box), detached before the next layer.
/// Returns every layer's output [D, B, Q, d] and the reference after it [D, B, Q, 2|4].
/// No final norm.
public final class DeformableTransformerDecoder: Module {
    public let layers: [DeformableTransformerDecoderLayer]
    /// The model's box heads, shared here with box refinement (`transformer.decoder.bbox_embed`).
    public var bboxEmbed: [MLP]?
    /// The model's class heads, shared here with two-stage (`transformer.decoder.class_embed`).
    public var classEmbed: [Linear]?

    public init(layers: [DeformableTransformerDecoderLayer]) { self.layers = layers }

    public func callAsFunction(_ target: Tensor, reference: Tensor, memory: Tensor, queryPosition: Tensor, validRatios: Tensor,
                               spatialShapes: [(Int, Int)], paddingMask: Tensor) -> (outputs: Tensor, references: Tensor) {
        var output = target, reference = reference
        var outputs: [Tensor] = [], references: [Tensor] = []
        for (k, layer) in layers.enumerated() {
            let ratios = reference.shape[2] == 4 ? Tensor.concat([validRatios, validRatios], axis: -1) : validRatios
            let levelReference = reference.unsqueezed(axis: 2) * ratios.unsqueezed(axis: 1)            // [B, Q, L, 2|4]
            output = layer(output, queryPosition: queryPosition, referencePoints: levelReference, memory: memory,
                           spatialShapes: spatialShapes, paddingMask: paddingMask)
            if let bboxEmbed { reference = Self.refine(reference, delta: bboxEmbed[k](output)).detached() }
            outputs.append(output)
            references.append(reference)
        }
        return (Tensor.stack(outputs, axis: 0), Tensor.stack(references, axis: 0))
    }

    /// σ(Δ + σ⁻¹(r)) for a 4-d reference; for a 2-d one the centre is refined and Δ's size
    /// taken as it is: σ(Δ + [σ⁻¹(r), 0, 0]).
    public static func refine(_ reference: Tensor, delta: Tensor) -> Tensor {
        if reference.shape.last == 4 { return (delta + reference.inverseSigmoid()).sigmoid() }
        let centre = delta.slice(axis: -1, end: 2) + reference.inverseSigmoid()
        return Tensor.concat([centre, delta.slice(axis: -1, start: 2)], axis: -1).sigmoid()
    }
}

extension Tensor {
    /// σ⁻¹(x) as Deformable DETR computes it (util/misc.py `inverse_sigmoid`): x clamped to
    /// [0, 1], then log(max(x, ε) / max(1 − x, ε)).
    public func inverseSigmoid(eps: Double = 1e-5) -> Tensor {
        let x = clamped(min: 0, max: 1)
        return (x.clamped(min: eps) / (1 - x).clamped(min: eps)).log()
    }
}
