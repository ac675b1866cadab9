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
public final class SpatiallyModulatedDecoderLayer: TransformerDecoderLayer {
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
        check(centre != nil || point1 != nil, "SpatiallyModulatedDecoderLayer: a layer without point1 needs the first layer's centre")
        let (q, b, heads) = (target.shape[0], target.shape[1], multiheadAttn.heads)
        let o = norm4(target + queryPosition)
        let centreLogits = point1.map { $0(o) }
        let centre = centre ?? imageSize * centreLogits!.sigmoid() / stride
        let centres = centre.unsqueezed(axis: 2) + point2(o).reshaped([q, b, heads, 2])
        let scales = point3.map { s in (s(o) * s(o)).reshaped([q, b, heads, dynamicScale.scalesPerHead]) }
        let prior = dynamicScale.logMap(centres: centres, scales: scales, height: featureSize.height, width: featureSize.width, smooth: smooth)
        let output = super.callAsFunction(target, memory: memory, position: position, queryPosition: queryPosition,
                          memoryKeyPaddingMask: padding, crossAttentionBias: prior)
        return (output, centreLogits, centre)
    }
}

/// SMCA's transformer (SMCA-DETR models/transformer.py `Transformer`): DETR's encoder, and a
/// decoder of `SpatiallyModulatedDecoderLayer`s whose first layer predicts each query's
/// centre; the shared `decoder.norm` is applied to every layer's output.
public final class SpatiallyModulatedTransformer: Module {
    public let encoder: TransformerEncoder
    public let decoder: SpatiallyModulatedDecoder

    /// Matrices start Xavier-uniform as in the original; the scales start at 1 (`point3`
    /// weight 0, bias 1).
    public init(dModel d: Int, heads: Int, encoderLayers: Int, decoderLayers: Int, feedforward: Int, dropout: Double,
                dynamicScale: DynamicScale, smooth: Double) {
        encoder = TransformerEncoder(dModel: d, heads: heads, count: encoderLayers, feedforward: feedforward, dropout: dropout)
        decoder = SpatiallyModulatedDecoder(layers: (0..<decoderLayers).map {
            SpatiallyModulatedDecoderLayer(dModel: d, heads: heads, feedforward: feedforward, dropout: dropout,
                                           dynamicScale: dynamicScale, smooth: smooth, predictsCentre: $0 == 0)
        }, norm: LayerNorm(d))
        super.init()
        for (_, p) in namedParameters() where p.shape.count > 1 { p.value = Initialization.xavierUniform(p.shape) }
        for layer in decoder.layers {
            guard let point3 = layer.point3 else { continue }
            point3.weight.value = Tensor.zeros(point3.weight.shape)
            point3.bias!.value = Tensor.full(point3.bias!.shape, value: 1)
        }
    }

    /// source and position [B, d, h, w], mask [B, h, w] (true on padding), queryEmbedding
    /// [Q, d], imageSize [B, 2] (unpadded width, height in pixels), stride of the feature map
    /// → every decoder layer's normalized output [D, B, Q, d] and the centre logits [B, Q, 2].
    public func callAsFunction(_ source: Tensor, mask: Tensor, queryEmbedding: Tensor, position: Tensor,
                               imageSize: Tensor, stride: Double) -> (hs: Tensor, centreLogits: Tensor) {
        let (b, d) = (source.shape[0], source.shape[1])
        let pos = position.tokenSequence, padding = mask.flattened(from: 1)
        let queryPosition = queryEmbedding.unsqueezed(axis: 1).expanded(to: [queryEmbedding.shape[0], b, d])
        let memory = encoder(source.tokenSequence, position: pos, keyPaddingMask: padding)
        var output = Tensor.zeros(like: queryPosition), centre: Tensor?, centreLogits: Tensor?, intermediate: [Tensor] = []
        for layer in decoder.layers {
            let step = layer(output, memory: memory, position: pos, queryPosition: queryPosition, padding: padding,
                             featureSize: (source.shape[2], source.shape[3]), imageSize: imageSize, stride: stride, centre: centre)
            (output, centre) = (step.output, step.centre)
            centreLogits = centreLogits ?? step.centreLogits
            intermediate.append(decoder.norm(output))
        }
        return (Tensor.stack(intermediate, axis: 0).transposed(1, 2), centreLogits!.transposed(0, 1))
    }
}

/// The decoder's layers (`layers.{i}`) and their shared output `norm`.
public final class SpatiallyModulatedDecoder: Module {
    public let layers: [SpatiallyModulatedDecoderLayer]
    public let norm: LayerNorm

    public init(layers: [SpatiallyModulatedDecoderLayer], norm: LayerNorm) {
        check(!layers.isEmpty, "SpatiallyModulatedDecoder: needs at least one layer (the first predicts the centres)")
        (self.layers, self.norm) = (layers, norm)
    }
}
