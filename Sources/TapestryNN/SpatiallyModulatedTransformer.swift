import Tapestry

/// SMCA's decoder layer (Gao et al., "Fast Convergence of DETR with Spatially Modulated
/// Co-Attention", ICCV 2021 §3.2; SMCA-DETR models/transformer.py `TransformerDecoderLayer`):
/// DETR's post-norm decoder layer whose co-attention logits get the log-Gaussian prior of
/// `DynamicScale.logMap` around a centre per query and head.
///
///     o = norm4(t + q_pos)                                  (from the layer's input)
///     c_logit = point1(o),  c = size·σ(c_logit)/stride       (first layer only; later ones reuse c)
///     p_h = c + point2(o)_h,  s_h = point3(o)_h²            (per head, in feature cells)
///     t = DETR layer(t, memory) with G(p, s) added to the co-attention logits
///
/// `size` is each image's unpadded (width, height) in pixels, `stride` the feature map's.
public final class SpatiallyModulatedDecoderLayer: TransformerDecoderLayer, SpatialPriorPredictor {
    public let norm4: LayerNorm
    /// The centre MLP d → d → d → 2 (the first layer only).
    public let point1: MLP?
    /// Centre offsets, (Δx, Δy) per head.
    public let point2: Linear
    /// Scales per head (absent for type1).
    public let point3: Linear?
    public let dynamicScale: DynamicScale
    /// The bandwidth β.
    public let smooth: Double

    public init(dModel: Int, heads: Int, feedforward: Int, dropout: Double, dynamicScale: DynamicScale, smooth: Double, predictsCentre: Bool) {
        norm4 = LayerNorm(dModel)
        point1 = predictsCentre ? MLP(inputDim: dModel, hiddenDim: dModel, outputDim: 2, layerCount: 3) : nil
        point2 = Linear(dModel, 2 * heads)
        point3 = dynamicScale == .type1 ? nil : Linear(dModel, dynamicScale.scalesPerHead * heads)
        (self.dynamicScale, self.smooth) = (dynamicScale, smooth)
        super.init(dModel: dModel, heads: heads, feedforward: feedforward, dropout: dropout)
    }

    /// target [Q, B, d], memory and position [h·w, B, d], queryPosition [Q, B, d], padding
    /// [B, h·w], imageSize [B, 2] (width, height); `centre` [Q, B, 2] comes from the first
    /// layer. Returns the layer's output, its centre logits (first layer) and the centre.
    public func callAsFunction(_ target: Tensor, memory: Tensor, position: Tensor, queryPosition: Tensor, padding: Tensor,
                               featureSize: (height: Int, width: Int), imageSize: Tensor, stride: Double,
                               centre: Tensor?) -> (output: Tensor, centreLogits: Tensor?, centre: Tensor) {
        let prior = predictPrior(target: target, queryPosition: queryPosition, heads: multiheadAttn.heads, imageSize: imageSize,
                                 stride: stride, centre: centre)
        let map = dynamicScale.logMap(centres: prior.centres, scales: prior.scales, height: featureSize.height, width: featureSize.width, smooth: smooth)
        let output = super.callAsFunction(target, memory: memory, position: position, queryPosition: queryPosition,
                                          memoryKeyPaddingMask: padding, crossAttentionBias: map)
        return (output, prior.centreLogits, prior.centre)
    }
}

/// A transformer whose decoder predicts SMCA's spatial priors: feature maps (one per
/// scale) in, every decoder layer's normalized output [D, B, Q, d] and the first layer's
/// centre logits [B, Q, 2] out.
public protocol SpatialPriorTransformer: Module {
    /// sources and positions [B, d, h_j, w_j], masks [B, h_j, w_j] (true on padding),
    /// queryEmbedding [Q, d], imageSize [B, 2] (unpadded width, height in pixels), each
    /// map's stride, and the stride whose cells the centres are measured in.
    func callAsFunction(sources: [Tensor], masks: [Tensor], positions: [Tensor], queryEmbedding: Tensor, imageSize: Tensor,
                        strides: [Double], referenceStride: Double) -> (hs: Tensor, centreLogits: Tensor)
}

/// SMCA's initialization (SMCA-DETR `Transformer._reset_parameters`): Xavier-uniform on every
/// matrix, then the scales start at 1 (`point3` weight 0, bias 1).
func resetLikeSMCA(_ transformer: Module, point3: [Linear?]) {
    for (_, p) in transformer.namedParameters() where p.shape.count > 1 { p.value = Initialization.xavierUniform(p.shape) }
    for case let layer? in point3 {
        layer.weight.value = Tensor.zeros(layer.weight.shape)
        layer.bias!.value = Tensor.full(layer.bias!.shape, value: 1)
    }
}

/// SMCA's transformer (Gao et al., "Fast Convergence of DETR with Spatially Modulated
/// Co-Attention", ICCV 2021; SMCA-DETR models/transformer.py `Transformer`): DETR's encoder, and a
/// decoder of `SpatiallyModulatedDecoderLayer`s whose first layer predicts each query's
/// centre; the shared `decoder.norm` is applied to every layer's output. One scale.
public final class SpatiallyModulatedTransformer: Module, SpatialPriorTransformer {
    public let encoder: TransformerEncoder
    public let decoder: SpatiallyModulatedDecoder<SpatiallyModulatedDecoderLayer>

    public init(dModel d: Int, heads: Int, encoderLayers: Int, decoderLayers: Int, feedforward: Int, dropout: Double,
                dynamicScale: DynamicScale, smooth: Double) {
        encoder = TransformerEncoder(dModel: d, heads: heads, count: encoderLayers, feedforward: feedforward, dropout: dropout)
        decoder = SpatiallyModulatedDecoder(layers: (0..<decoderLayers).map {
            SpatiallyModulatedDecoderLayer(dModel: d, heads: heads, feedforward: feedforward, dropout: dropout,
                                           dynamicScale: dynamicScale, smooth: smooth, predictsCentre: $0 == 0)
        }, norm: LayerNorm(d))
        super.init()
        resetLikeSMCA(self, point3: decoder.layers.map(\.point3))
    }

    public func callAsFunction(sources: [Tensor], masks: [Tensor], positions: [Tensor], queryEmbedding: Tensor, imageSize: Tensor,
                               strides: [Double], referenceStride: Double) -> (hs: Tensor, centreLogits: Tensor) {
        check(sources.count == 1 && masks.count == 1 && positions.count == 1 && strides == [referenceStride],
              "SpatiallyModulatedTransformer: one feature map at the reference stride, got \(sources.count) at strides \(strides)")
        let (source, pos, padding) = (sources[0], positions[0].tokenSequence, masks[0].flattened(from: 1))
        let memory = encoder(source.tokenSequence, position: pos, keyPaddingMask: padding)
        return decoder(queryEmbedding: queryEmbedding, batch: source.shape[0]) { layer, target, queryPosition, centre in
            layer(target, memory: memory, position: pos, queryPosition: queryPosition, padding: padding,
                  featureSize: (source.shape[2], source.shape[3]), imageSize: imageSize, stride: referenceStride, centre: centre)
        }
    }
}

/// The decoder's layers (`layers.{i}`) and their shared output `norm`.
public final class SpatiallyModulatedDecoder<Layer: Module>: Module {
    public let layers: [Layer]
    public let norm: LayerNorm

    public init(layers: [Layer], norm: LayerNorm) {
        check(!layers.isEmpty, "SpatiallyModulatedDecoder: needs at least one layer (the first predicts the centres)")
        (self.layers, self.norm) = (layers, norm)
    }

    /// Runs the layers from zeros with the query embeddings [Q, d] as query positions, the
    /// first layer's centre passed to the others: `step(layer, target, queryPosition, centre)`
    /// → every layer's normed output [D, B, Q, d] and the centre logits [B, Q, 2].
    public func callAsFunction(queryEmbedding: Tensor, batch: Int,
                               step: (Layer, Tensor, Tensor, Tensor?) -> (output: Tensor, centreLogits: Tensor?, centre: Tensor))
        -> (hs: Tensor, centreLogits: Tensor) {
        let queryPosition = queryEmbedding.unsqueezed(axis: 1).expanded(to: [queryEmbedding.shape[0], batch, queryEmbedding.shape[1]])
        var output = Tensor.zeros(like: queryPosition), centre: Tensor?, centreLogits: Tensor?, intermediate: [Tensor] = []
        for layer in layers {
            let result = step(layer, output, queryPosition, centre)
            (output, centre) = (result.output, result.centre)
            centreLogits = centreLogits ?? result.centreLogits
            intermediate.append(norm(output))
        }
        return (Tensor.stack(intermediate, axis: 0).transposed(1, 2), centreLogits!.transposed(0, 1))
    }
}
