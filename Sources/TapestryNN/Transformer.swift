import Tapestry

/// The feed-forward activation of a transformer layer.
public enum TransformerActivation: Sendable {
    case relu, gelu
    func apply(_ x: Tensor) -> Tensor { self == .relu ? x.relu() : x.gelu() }
}

/// DETR's transformer encoder layer (detr/models/transformer.py `TransformerEncoderLayer`;
/// Vaswani et al., 2017). The positional encoding is added to queries and keys, never values.
///
/// Post-norm (default): x = norm1(x + SA(x + pos, x + pos, x)); x = norm2(x + FFN(x)).
/// Pre-norm: u = norm1(x); x = x + SA(u + pos, u + pos, u); x = x + FFN(norm2(x)).
/// FFN(x) = linear2(dropout(act(linear1(x)))). Sequence-first [S, B, d].
public final class TransformerEncoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    public let preNorm: Bool
    public let activation: TransformerActivation

    public init(dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, preNorm: Bool = false) {
        selfAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout)
        linear1 = Linear(dModel, feedforward)
        self.dropout = Dropout(dropout)
        linear2 = Linear(feedforward, dModel)
        (norm1, norm2) = (LayerNorm(dModel), LayerNorm(dModel))
        (dropout1, dropout2) = (Dropout(dropout), Dropout(dropout))
        (self.preNorm, self.activation) = (preNorm, activation)
    }

    func feedForward(_ x: Tensor) -> Tensor { linear2(dropout(activation.apply(linear1(x)))) }

    public func callAsFunction(_ source: Tensor, position: Tensor? = nil, keyPaddingMask: Tensor? = nil,
                               attentionMask: Tensor? = nil) -> Tensor {
        func withPosition(_ x: Tensor) -> Tensor { position.map { x + $0 } ?? x }
        if preNorm {
            let u = norm1(source)
            let attended = selfAttn(query: withPosition(u), key: withPosition(u), value: u, keyPaddingMask: keyPaddingMask,
                                    attentionMask: attentionMask, needWeights: false).output
            let x = source + dropout1(attended)
            return x + dropout2(feedForward(norm2(x)))
        }
        let attended = selfAttn(query: withPosition(source), key: withPosition(source), value: source,
                                keyPaddingMask: keyPaddingMask, attentionMask: attentionMask, needWeights: false).output
        let x = norm1(source + dropout1(attended))
        return norm2(x + dropout2(feedForward(x)))
    }
}

/// DETR's transformer decoder layer (Carion et al., "End-to-End Object Detection with
/// Transformers", ECCV 2020; `TransformerDecoderLayer`): self-attention among the
/// queries, cross-attention into the encoder memory, feed-forward; positional encodings on
/// queries and keys only.
///
/// Post-norm: t = norm1(t + SA(t + q_pos, t + q_pos, t));
/// t = norm2(t + CA(t + q_pos, memory + pos, memory)); t = norm3(t + FFN(t)).
/// `crossAttentionBias` [B, H, Q, S] is added to the cross-attention logits (SMCA's
/// spatial prior, `SpatiallyModulatedDecoderLayer`).
public class TransformerDecoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let multiheadAttn: MultiheadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    public let dropout3: Dropout
    public let preNorm: Bool
    public let activation: TransformerActivation

    public init(dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, preNorm: Bool = false) {
        selfAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout)
        multiheadAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout)
        linear1 = Linear(dModel, feedforward)
        self.dropout = Dropout(dropout)
        linear2 = Linear(feedforward, dModel)
        (norm1, norm2, norm3) = (LayerNorm(dModel), LayerNorm(dModel), LayerNorm(dModel))
        (dropout1, dropout2, dropout3) = (Dropout(dropout), Dropout(dropout), Dropout(dropout))
        (self.preNorm, self.activation) = (preNorm, activation)
    }

    public func callAsFunction(_ target: Tensor, memory: Tensor, position: Tensor? = nil, queryPosition: Tensor? = nil,
                               memoryKeyPaddingMask: Tensor? = nil, crossAttentionBias: Tensor? = nil) -> Tensor {
        func withQueryPosition(_ x: Tensor) -> Tensor { queryPosition.map { x + $0 } ?? x }
        let keys = position.map { memory + $0 } ?? memory
        func feedForward(_ x: Tensor) -> Tensor { linear2(dropout(activation.apply(linear1(x)))) }
        if preNorm {
            let u = norm1(target)
            var t = target + dropout1(selfAttn(query: withQueryPosition(u), key: withQueryPosition(u), value: u, needWeights: false).output)
            t = t + dropout2(multiheadAttn(query: withQueryPosition(norm2(t)), key: keys, value: memory,
                                           keyPaddingMask: memoryKeyPaddingMask, logitBias: crossAttentionBias, needWeights: false).output)
            return t + dropout3(feedForward(norm3(t)))
        }
        var t = norm1(target + dropout1(selfAttn(query: withQueryPosition(target), key: withQueryPosition(target), value: target, needWeights: false).output))
        t = norm2(t + dropout2(multiheadAttn(query: withQueryPosition(t), key: keys, value: memory,
                                             keyPaddingMask: memoryKeyPaddingMask, logitBias: crossAttentionBias, needWeights: false).output))
        return norm3(t + dropout3(feedForward(t)))
    }
}

/// A transformer encoder (Vaswani et al., "Attention Is All You Need", NeurIPS 2017; DETR's
/// `TransformerEncoder`): x ← layer_i(x) for each of its `layers.{i}`, then the optional final
/// `norm` (pre-norm DETR).
public final class TransformerEncoder: Module {
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm?

    public init(layers: [TransformerEncoderLayer], norm: LayerNorm? = nil) { (self.layers, self.norm) = (layers, norm) }

    /// `count` post-norm (or pre-norm, with the final norm) layers of one size.
    public convenience init(dModel: Int, heads: Int, count: Int, feedforward: Int, dropout: Double, preNorm: Bool = false) {
        self.init(layers: (0..<count).map { _ in
            TransformerEncoderLayer(dModel: dModel, heads: heads, feedforward: feedforward, dropout: dropout, preNorm: preNorm)
        }, norm: preNorm ? LayerNorm(dModel) : nil)
    }

    public func callAsFunction(_ source: Tensor, position: Tensor? = nil, keyPaddingMask: Tensor? = nil) -> Tensor {
        let x = layers.reduce(source) { $1($0, position: position, keyPaddingMask: keyPaddingMask) }
        return norm.map { $0(x) } ?? x
    }
}

/// A transformer decoder (Vaswani et al., NeurIPS 2017; DETR's `TransformerDecoder`):
/// t ← layer_i(t, memory) for each of its `layers.{i}`, and the shared output `norm`. Layers pass their
/// un-normalized output on; the result holds `norm(output)` after every layer, stacked
/// [D, Q, B, d] (DETR's `return_intermediate`), or only the last when not requested.
public final class TransformerDecoder: Module {
    public let layers: [TransformerDecoderLayer]
    public let norm: LayerNorm

    public init(layers: [TransformerDecoderLayer], norm: LayerNorm) { (self.layers, self.norm) = (layers, norm) }

    public func callAsFunction(_ target: Tensor, memory: Tensor, position: Tensor? = nil, queryPosition: Tensor? = nil,
                               memoryKeyPaddingMask: Tensor? = nil, crossAttentionBias: Tensor? = nil,
                               returnIntermediate: Bool = true) -> Tensor {
        var output = target
        var intermediate: [Tensor] = []
        for layer in layers {
            output = layer(output, memory: memory, position: position, queryPosition: queryPosition,
                           memoryKeyPaddingMask: memoryKeyPaddingMask, crossAttentionBias: crossAttentionBias)
            if returnIntermediate { intermediate.append(norm(output)) }
        }
        return returnIntermediate ? Tensor.stack(intermediate, axis: 0) : norm(output).unsqueezed(axis: 0)
    }
}

/// DETR's transformer (Carion et al., ECCV 2020, §3.2; detr/models/transformer.py
/// `Transformer`): memory = encoder(x + pos), output = decoder(0 + query_pos, memory); the feature map becomes
/// H·W tokens (row-major), the decoder starts from zeros (or a given state, Stacked-DETR's
/// level-3 decoder) with the learned query embeddings as query positions, and returns the
/// normalized output of every layer, [D, B, Q, d]. Every matrix starts Xavier-uniform, as
/// the original resets them. The encoder and decoder may have different head counts
/// (Stacked-DETR's `encode_heads`, `decode_heads`).
public final class DETRTransformer: Module {
    public let encoder: TransformerEncoder
    public let decoder: TransformerDecoder

    public init(dModel d: Int, encoderHeads: Int, decoderHeads: Int, encoderLayers: Int, decoderLayers: Int, feedforward: Int,
                dropout: Double, preNorm: Bool) {
        encoder = TransformerEncoder(dModel: d, heads: encoderHeads, count: encoderLayers, feedforward: feedforward, dropout: dropout, preNorm: preNorm)
        decoder = TransformerDecoder(layers: (0..<decoderLayers).map { _ in
            TransformerDecoderLayer(dModel: d, heads: decoderHeads, feedforward: feedforward, dropout: dropout, preNorm: preNorm)
        }, norm: LayerNorm(d))
        super.init()
        for (_, p) in namedParameters() where p.shape.count > 1 { p.value = Initialization.xavierUniform(p.shape) }
    }

    public convenience init(dModel d: Int, heads: Int, encoderLayers: Int, decoderLayers: Int, feedforward: Int, dropout: Double, preNorm: Bool) {
        self.init(dModel: d, encoderHeads: heads, decoderHeads: heads, encoderLayers: encoderLayers, decoderLayers: decoderLayers,
                  feedforward: feedforward, dropout: dropout, preNorm: preNorm)
    }

    /// source [B, d, H, W], mask [B, H, W] (true on padding), queryEmbedding [Q, d],
    /// position [B, d, H, W], target [Q, B, d] (zeros when nil) → [D, B, Q, d].
    public func callAsFunction(_ source: Tensor, mask: Tensor, queryEmbedding: Tensor, position: Tensor, target: Tensor? = nil) -> Tensor {
        let (b, d) = (source.shape[0], source.shape[1])
        let pos = position.tokenSequence, padding = mask.flattened(from: 1)
        let queryPosition = queryEmbedding.unsqueezed(axis: 1).expanded(to: [queryEmbedding.shape[0], b, d])
        check(target == nil || target!.shape == queryPosition.shape, "DETRTransformer: target must be \(queryPosition.shape), got \(target!.shape)")
        let memory = encoder(source.tokenSequence, position: pos, keyPaddingMask: padding)
        let hs = decoder(target ?? Tensor.zeros(like: queryPosition), memory: memory, position: pos, queryPosition: queryPosition,
                         memoryKeyPaddingMask: padding)                                  // [D, Q, B, d]
        return hs.transposed(1, 2)
    }
}

extension Tensor {
    /// A feature map [B, d, H, W] as the sequence of its pixels' features [H·W, B, d]
    /// (row-major, index y·W + x), the layout of DETR's transformers.
    public var tokenSequence: Tensor {
        check(rank == 4, "tokenSequence: expected a feature map [B, d, H, W], got \(shape)")
        return reshaped([shape[0], shape[1], shape[2] * shape[3]]).permuted([2, 0, 1])
    }
}
