import Tapestry

/// Multi-scale co-attention with scale selection (Gao et al., "Fast Convergence of DETR with
/// Spatially Modulated Co-Attention", ICCV 2021, §3.3): the queries attend to every scale j
/// with that scale's own key and value projections and spatial prior G_j, and the scales are
/// mixed by the query's scale-selection weights α (softmax over the scales):
///
///     head_h = Σ_j α_j · softmax(q_h·k_{j,h}ᵀ/√d_h + G_{j,h} + mask_j)·v_{j,h}
///     output = concat(head_0 … head_{H−1})·W_oᵀ + b_o
///
/// Parameters `q_proj`, `k_proj.{j}`, `v_proj.{j}`, `out_proj`. With one scale and α = 1 it
/// is `MultiheadAttention` with the logit bias G.
public final class MultiScaleCoAttention: Module {
    public let qProj: Linear
    public let kProj: [Linear]
    public let vProj: [Linear]
    public let outProj: Linear
    public let dropout: Dropout
    public let heads: Int

    public init(embedDim e: Int, heads: Int, scales: Int, dropout: Double = 0) {
        check(heads > 0 && e % heads == 0, "MultiScaleCoAttention: embedDim \(e) is not divisible by \(heads) heads")
        qProj = Linear(e, e)
        kProj = (0..<scales).map { _ in Linear(e, e) }
        vProj = (0..<scales).map { _ in Linear(e, e) }
        outProj = Linear(e, e)
        self.dropout = Dropout(dropout)
        self.heads = heads
    }

    /// query [Q, B, E]; per scale keys and values [S_j, B, E] and the additive logit bias
    /// [B, H or 1, Q or 1, S_j] (prior and padding mask); scaleWeights α [Q, B, scales] → [Q, B, E].
    public func callAsFunction(query: Tensor, keys: [Tensor], values: [Tensor], biases: [Tensor], scaleWeights: Tensor) -> Tensor {
        let (q, b, e) = (query.shape[0], query.shape[1], query.shape[2])
        check(keys.count == kProj.count && values.count == kProj.count && biases.count == kProj.count && scaleWeights.shape == [q, b, kProj.count],
              "MultiScaleCoAttention(\(kProj.count) scales): got \(keys.count) keys, \(values.count) values, \(biases.count) biases and scale weights \(scaleWeights.shape) for query \(query.shape)")
        func split(_ x: Tensor) -> Tensor {                                                 // [L, B, E] → [B, H, L, E/H]
            x.reshaped([x.shape[0], b, heads, e / heads]).permuted([1, 2, 0, 3])
        }
        let queries = split(qProj(query))
        let alpha = scaleWeights.permuted([1, 0, 2]).unsqueezed(axis: 1)                    // [B, 1, Q, scales]
        var mixed: Tensor?
        for j in 0..<kProj.count {
            let k = split(kProj[j](keys[j])), v = split(vProj[j](values[j]))
            let heads = scaledDotProductAttention(query: queries, key: k, value: v, bias: biases[j], dropout: dropout, needWeights: false).output
            let term = heads * alpha.slice(axis: 3, start: j, end: j + 1)
            mixed = mixed.map { $0 + term } ?? term
        }
        return outProj(mixed!.permuted([2, 0, 1, 3]).reshaped([q, b, e]))
    }
}

/// One scale's encoder memory as the decoder sees it: tokens and positions [h·w, B, d],
/// the padding as an additive logit mask [B, 1, 1, h·w] (−∞ on padded keys), the grid, and
/// its cell in reference cells (stride / reference stride).
public struct ScaleMemory {
    public var memory: Tensor
    public var position: Tensor
    public var paddingBias: Tensor
    public var height: Int
    public var width: Int
    public var cellSize: Double

    /// `padding` [B, h·w] is true on padded keys.
    public init(memory: Tensor, position: Tensor, padding: Tensor, height: Int, width: Int, cellSize: Double) {
        let bias = padding.additiveMask(dtype: memory.dtype).reshaped([padding.shape[0], 1, 1, padding.shape[1]])
        (self.memory, self.position, paddingBias, self.height, self.width, self.cellSize) = (memory, position, bias, height, width, cellSize)
    }
}

/// The decoder layer of multi-scale SMCA (Gao et al., ICCV 2021, §3.3): SMCA's layer (`SpatiallyModulatedDecoderLayer`)
/// whose co-attention is `MultiScaleCoAttention`, each scale's logits modulated by the same
/// prior laid over that scale's grid, and the scales mixed by α = softmax(point4(o)).
public final class MultiScaleSpatiallyModulatedDecoderLayer: Module, SpatialPriorPredictor {
    public let selfAttn: MultiheadAttention
    public let multiheadAttn: MultiScaleCoAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let norm4: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    public let dropout3: Dropout
    public let point1: MLP?
    public let point2: Linear
    public let point3: Linear?
    /// Scale-selection logits, one per scale.
    public let point4: Linear
    public let dynamicScale: DynamicScale
    public let smooth: Double

    public init(dModel d: Int, heads: Int, scales: Int, feedforward: Int, dropout p: Double, dynamicScale: DynamicScale, smooth: Double, predictsCentre: Bool) {
        selfAttn = MultiheadAttention(embedDim: d, heads: heads, dropout: p)
        multiheadAttn = MultiScaleCoAttention(embedDim: d, heads: heads, scales: scales, dropout: p)
        (linear1, dropout, linear2) = (Linear(d, feedforward), Dropout(p), Linear(feedforward, d))
        (norm1, norm2, norm3, norm4) = (LayerNorm(d), LayerNorm(d), LayerNorm(d), LayerNorm(d))
        (dropout1, dropout2, dropout3) = (Dropout(p), Dropout(p), Dropout(p))
        point1 = predictsCentre ? MLP(inputDim: d, hiddenDim: d, outputDim: 2, layerCount: 3) : nil
        point2 = Linear(d, 2 * heads)
        point3 = dynamicScale == .type1 ? nil : Linear(d, dynamicScale.scalesPerHead * heads)
        point4 = Linear(d, scales)
        (self.dynamicScale, self.smooth) = (dynamicScale, smooth)
    }

    /// target and queryPosition [Q, B, d], the scales' memories, imageSize [B, 2] (width,
    /// height), the reference stride of the centres; `centre` [Q, B, 2] from the first layer.
    public func callAsFunction(_ target: Tensor, scales: [ScaleMemory], queryPosition: Tensor, imageSize: Tensor, stride: Double,
                               centre: Tensor?) -> (output: Tensor, centreLogits: Tensor?, centre: Tensor) {
        let prior = predictPrior(target: target, queryPosition: queryPosition, heads: multiheadAttn.heads, imageSize: imageSize,
                                 stride: stride, centre: centre)
        let selection = point4(prior.o).softmax(axis: -1)                                  // [Q, B, scales]
        let withPosition = target + queryPosition
        var t = norm1(target + dropout1(selfAttn(query: withPosition, key: withPosition, value: target, needWeights: false).output))
        let biases = scales.map { s in
            dynamicScale.logMap(centres: prior.centres, scales: prior.scales, height: s.height, width: s.width, smooth: smooth, cellSize: s.cellSize)
                + s.paddingBias
        }
        t = norm2(t + dropout2(multiheadAttn(query: t + queryPosition, keys: scales.map { $0.memory + $0.position }, values: scales.map(\.memory),
                                             biases: biases, scaleWeights: selection)))
        t = norm3(t + dropout3(linear2(dropout(linear1(t).relu()))))
        return (t, prior.centreLogits, prior.centre)
    }
}

/// The encoder of multi-scale SMCA (Gao et al., "Fast Convergence of DETR with Spatially Modulated Co-Attention", ICCV 2021,
/// §3.3): x ← layer_i(x) for each layer; each layer is intra-scale (the same layer applied
/// to every scale's tokens on their own, so its weights are shared across scales) or
/// multi-scale (one self-attention over all scales' tokens). The paper's is 2 intra-scale,
/// 1 multi-scale, 2 intra-scale.
public final class MultiScaleEncoder: Module {
    public let layers: [TransformerEncoderLayer]
    /// Whether layer i attends across scales.
    public let crossScale: [Bool]

    public init(dModel: Int, heads: Int, crossScale: [Bool], feedforward: Int, dropout: Double) {
        layers = crossScale.map { _ in TransformerEncoderLayer(dModel: dModel, heads: heads, feedforward: feedforward, dropout: dropout) }
        self.crossScale = crossScale
    }

    /// Per scale: tokens and positions [S_j, B, d], padding [B, S_j] → the scales' memories.
    public func callAsFunction(_ tokens: [Tensor], positions: [Tensor], paddings: [Tensor]) -> [Tensor] {
        var scales = tokens
        for (layer, across) in zip(layers, crossScale) {
            if across {
                let joined = layer(Tensor.concat(scales, axis: 0), position: Tensor.concat(positions, axis: 0), keyPaddingMask: Tensor.concat(paddings, axis: 1))
                var start = 0
                scales = scales.map { s in
                    defer { start += s.shape[0] }
                    return joined.slice(axis: 0, start: start, end: start + s.shape[0])
                }
            } else {
                scales = (0..<scales.count).map { layer(scales[$0], position: positions[$0], keyPaddingMask: paddings[$0]) }
            }
        }
        return scales
    }
}

/// Multi-scale SMCA's transformer (Gao et al., ICCV 2021, §3.3 and Table 3): feature maps at several strides with their sine
/// encodings plus a learned per-scale embedding (`level_embed`), the multi-scale encoder, and
/// a decoder of `MultiScaleSpatiallyModulatedDecoderLayer`s whose first layer predicts the
/// centres in cells of the reference stride.
public final class MultiScaleSpatiallyModulatedTransformer: Module, SpatialPriorTransformer {
    public let encoder: MultiScaleEncoder
    public let decoder: SpatiallyModulatedDecoder<MultiScaleSpatiallyModulatedDecoderLayer>
    public let levelEmbed: Parameter

    /// Matrices start Xavier-uniform, the scales at 1 (`point3` weight 0, bias 1), the
    /// scale embeddings N(0, 1).
    public init(dModel d: Int, heads: Int, scales: Int, encoderCrossScale: [Bool], decoderLayers: Int, feedforward: Int, dropout: Double,
                dynamicScale: DynamicScale, smooth: Double) {
        encoder = MultiScaleEncoder(dModel: d, heads: heads, crossScale: encoderCrossScale, feedforward: feedforward, dropout: dropout)
        decoder = SpatiallyModulatedDecoder(layers: (0..<decoderLayers).map {
            MultiScaleSpatiallyModulatedDecoderLayer(dModel: d, heads: heads, scales: scales, feedforward: feedforward, dropout: dropout,
                                                     dynamicScale: dynamicScale, smooth: smooth, predictsCentre: $0 == 0)
        }, norm: LayerNorm(d))
        levelEmbed = Parameter(Initialization.normal([scales, d]))
        super.init()
        resetLikeSMCA(self, point3: decoder.layers.map(\.point3))
        levelEmbed.value = Initialization.normal(levelEmbed.shape)
    }

    public func callAsFunction(sources: [Tensor], masks: [Tensor], positions: [Tensor], queryEmbedding: Tensor, imageSize: Tensor,
                               strides: [Double], referenceStride: Double) -> (hs: Tensor, centreLogits: Tensor) {
        check(sources.count == levelEmbed.shape[0] && masks.count == sources.count && positions.count == sources.count && strides.count == sources.count,
              "MultiScaleSpatiallyModulatedTransformer: \(levelEmbed.shape[0]) scales, got \(sources.count) sources, \(masks.count) masks, \(positions.count) encodings, \(strides.count) strides")
        let d = sources[0].shape[1]
        let tokens = sources.map(\.tokenSequence), paddings = masks.map { $0.flattened(from: 1) }
        let pos = positions.enumerated().map { $1.tokenSequence + levelEmbed.value.select(axis: 0, index: $0).reshaped([1, 1, d]) }
        let memories = encoder(tokens, positions: pos, paddings: paddings)
        let scales = (0..<sources.count).map {
            ScaleMemory(memory: memories[$0], position: pos[$0], padding: paddings[$0], height: sources[$0].shape[2], width: sources[$0].shape[3],
                        cellSize: strides[$0] / referenceStride)
        }
        return decoder(queryEmbedding: queryEmbedding, batch: sources[0].shape[0]) { layer, target, queryPosition, centre in
            layer(target, scales: scales, queryPosition: queryPosition, imageSize: imageSize, stride: referenceStride, centre: centre)
        }
    }
}
