import Foundation
import Tapestry

/// Deformable DETR's transformer (Zhu et al., ICLR 2021; Deformable-DETR
/// `DeformableTransformer`), over L feature levels already projected to d channels.
///
/// Levels are flattened row-major and concatenated finest first (S = Σ H_l·W_l); each
/// token's position is its level's sine encoding plus `level_embed[l]`. The encoder's
/// reference for pixel (i, j) of level l is its centre normalized to the level's valid
/// (unpadded) region, mapped to every level's canvas by the valid ratios. Decoder queries:
/// - single-stage: `query_embed` [Q, 2d] gives the query position (first d) and content
///   (last d); the reference is σ(reference_points(position));
/// - two-stage: the encoder tokens become proposals (`EncoderProposals`) scored by the class
///   head `dec_layers`; the top Q (by class 0's logit) give the reference boxes (detached)
///   and, through their sine embedding, `pos_trans` and `pos_trans_norm`, position and content.
public final class DeformableTransformer: Module {
    public let levelEmbed: Parameter
    public let encoder: DeformableTransformerEncoder
    public let decoder: DeformableTransformerDecoder
    public let encOutput: Linear?
    public let encOutputNorm: LayerNorm?
    public let posTrans: Linear?
    public let posTransNorm: LayerNorm?
    public let referencePoints: Linear?
    public let queries: Int

    /// `twoStage` needs d = 256 (the proposal embedding has 128 features per coordinate) and
    /// the decoder's class and box heads (`decoder.classEmbed`, `decoder.bboxEmbed`).
    public init(dModel d: Int, heads: Int, encoderLayers: Int, decoderLayers: Int, feedforward: Int, dropout: Double,
                levels: Int, encoderPoints: Int, decoderPoints: Int, twoStage: Bool, queries: Int) {
        check(!twoStage || d == 2 * EncoderProposals.embeddingFeatures,
              "DeformableTransformer: two-stage needs d_model \(2 * EncoderProposals.embeddingFeatures), got \(d)")
        levelEmbed = Parameter(Initialization.normal([levels, d]))
        encoder = DeformableTransformerEncoder(layers: (0..<encoderLayers).map { _ in
            DeformableTransformerEncoderLayer(dModel: d, feedforward: feedforward, dropout: dropout, levels: levels, heads: heads, points: encoderPoints)
        })
        decoder = DeformableTransformerDecoder(layers: (0..<decoderLayers).map { _ in
            DeformableTransformerDecoderLayer(dModel: d, feedforward: feedforward, dropout: dropout, levels: levels, heads: heads, points: decoderPoints)
        })
        (encOutput, encOutputNorm) = twoStage ? (Linear(d, d), LayerNorm(d)) : (nil, nil)
        (posTrans, posTransNorm) = twoStage ? (Linear(2 * d, 2 * d), LayerNorm(2 * d)) : (nil, nil)
        referencePoints = twoStage ? nil : Linear(d, 2)
        self.queries = queries
        super.init()
        // The original's reset: Xavier on every matrix, then each attention's own init.
        for (_, p) in namedParameters() where p.shape.count > 1 { p.value = Initialization.xavierUniform(p.shape) }
        for layer in encoder.layers { layer.selfAttn.resetParameters() }
        for layer in decoder.layers { layer.crossAttn.resetParameters() }
        referencePoints?.bias?.value = Tensor.zeros([2])
        levelEmbed.value = Initialization.normal(levelEmbed.shape)
    }

    public struct Output {
        /// Every decoder layer's output [D, B, Q, d].
        public var hs: Tensor
        /// The decoder's first reference [B, Q, 2 | 4] and the one after each layer [D, B, Q, 2 | 4] (sigmoid space).
        public var initialReference: Tensor
        public var references: Tensor
        /// Two-stage: the proposals' class logits [B, S, C] and boxes [B, S, 4].
        public var encoderLogits: Tensor?
        public var encoderBoxes: Tensor?
    }

    /// sources, positions [B, d, H_l, W_l] and masks [B, H_l, W_l] (true on padding) per
    /// level; `queryEmbedding` [Q, 2d] for single-stage.
    public func callAsFunction(sources: [Tensor], masks: [Tensor], positions: [Tensor], queryEmbedding: Tensor?) -> Output {
        let b = sources[0].shape[0], d = sources[0].shape[1]
        let spatialShapes = sources.map { ($0.shape[2], $0.shape[3]) }
        func flatten(_ x: Tensor) -> Tensor { x.reshaped([b, d, x.shape[2] * x.shape[3]]).transposed(1, 2) }     // [B, HW, d]
        let source = Tensor.concat(sources.map(flatten), axis: 1)
        let position = Tensor.concat(positions.enumerated().map { l, p in
            flatten(p) + levelEmbed.value.select(axis: 0, index: l).reshaped([1, 1, d])
        }, axis: 1)
        let padding = Tensor.concat(masks.map { $0.reshaped([b, $0.shape[1] * $0.shape[2]]) }, axis: 1)
        let validRatios = Self.validRatios(masks, dtype: source.dtype)
        let memory = encoder(source, position: position, reference: DeformableTransformerEncoder.referencePoints(spatialShapes, validRatios: validRatios),
                             spatialShapes: spatialShapes, paddingMask: padding)

        var output = Output(hs: memory, initialReference: memory, references: memory)
        let queryPosition: Tensor, target: Tensor
        if let posTrans, let posTransNorm, let encOutput, let encOutputNorm, let classHeads = decoder.classEmbed, let boxHeads = decoder.bboxEmbed {
            let proposals = EncoderProposals(memory: memory, paddingMask: padding, spatialShapes: spatialShapes)
            let scored = encOutputNorm(encOutput(proposals.memory))
            let logits = classHeads[decoder.layers.count](scored), unactivated = boxHeads[decoder.layers.count](scored) + proposals.boxes
            let best = logits.select(axis: -1, index: 0).topk(queries, axis: 1).indices                           // [B, Q]
            let chosen = unactivated.gather(axis: 1, index: best.unsqueezed(axis: -1).expanded(to: [b, queries, 4])).detached()
            output.initialReference = chosen.sigmoid()
            let embedding = posTransNorm(posTrans(EncoderProposals.positionEmbedding(chosen)))
            (queryPosition, target) = (embedding.slice(axis: -1, end: d), embedding.slice(axis: -1, start: d))
            (output.encoderLogits, output.encoderBoxes) = (logits, unactivated.sigmoid())
        } else {
            let embedding = queryEmbedding!
            let q = embedding.shape[0]
            queryPosition = embedding.slice(axis: 1, end: d).unsqueezed(axis: 0).expanded(to: [b, q, d])
            target = embedding.slice(axis: 1, start: d).unsqueezed(axis: 0).expanded(to: [b, q, d])
            output.initialReference = referencePoints!(queryPosition).sigmoid()
        }
        (output.hs, output.references) = decoder(target, reference: output.initialReference, memory: memory, queryPosition: queryPosition,
                                                 validRatios: validRatios, spatialShapes: spatialShapes, paddingMask: padding)
        return output
    }

    /// For each image and level, (valid width / W, valid height / H) from the mask's first
    /// row and column: [B, L, 2], in (x, y) order (`get_valid_ratio`).
    public static func validRatios(_ masks: [Tensor], dtype: DType) -> Tensor {
        Tensor.stack(masks.map { mask in
            let valid = mask.logicalNot().cast(to: dtype)
            let (h, w) = (Double(mask.shape[1]), Double(mask.shape[2]))
            return Tensor.stack([valid.select(axis: 1, index: 0).sum(axis: 1) / w, valid.select(axis: 2, index: 0).sum(axis: 1) / h], axis: -1)
        }, axis: 1)
    }
}

/// Deformable DETR's encoder stack (Zhu et al., "Deformable DETR", ICLR 2021;
/// `DeformableTransformerEncoder`): x ← layer_i(x, pos, ref) for each layer, every token's
/// reference point the centre of its own cell on every level; no final norm.
public final class DeformableTransformerEncoder: Module {
    public let layers: [DeformableTransformerEncoderLayer]

    public init(layers: [DeformableTransformerEncoderLayer]) { self.layers = layers }

    public func callAsFunction(_ source: Tensor, position: Tensor, reference: Tensor, spatialShapes: [(Int, Int)], paddingMask: Tensor) -> Tensor {
        layers.reduce(source) { $1($0, position: position, referencePoints: reference, spatialShapes: spatialShapes, paddingMask: paddingMask) }
    }

    /// The reference of every token of every level at every level, [B, S, L, 2]
    /// (`get_reference_points`): pixel (i, j) of level l at ((j + ½)/(r_x·W_l), (i + ½)/(r_y·H_l))
    /// with r its level's valid ratios, then multiplied by each level's ratios.
    public static func referencePoints(_ spatialShapes: [(Int, Int)], validRatios: Tensor) -> Tensor {
        let dtype = validRatios.dtype
        let perLevel = spatialShapes.enumerated().map { l, shape -> Tensor in
            let (h, w) = shape
            let ys = Tensor.linspace(0.5, Double(h) - 0.5, count: h, dtype: dtype).reshaped([1, h, 1]).expanded(to: [1, h, w]).reshaped([1, h * w])
            let xs = Tensor.linspace(0.5, Double(w) - 0.5, count: w, dtype: dtype).reshaped([1, 1, w]).expanded(to: [1, h, w]).reshaped([1, h * w])
            let ratios = validRatios.select(axis: 1, index: l)                                               // [B, 2]
            return Tensor.stack([xs / (ratios.slice(axis: 1, end: 1) * Double(w)), ys / (ratios.slice(axis: 1, start: 1) * Double(h))], axis: -1)
        }
        return Tensor.concat(perLevel, axis: 1).unsqueezed(axis: 2) * validRatios.unsqueezed(axis: 1)
    }
}
