import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

/// SMCA's log-Gaussian co-attention prior and its decoder: maps computed by hand, the
/// layout of batches, heads and cells against scalar loops, and Float64 gradient checks of
/// every scale type through the decoder layers and the whole transformer.
@Suite struct SpatialModulation {
    /// One query and head, centre (1.5, 0.25) on a 2 × 3 map (cells (0,0) (1,0) (2,0) (0,1)
    /// (1,1) (2,1)): dx² = 2.25, 0.25, 0.25, 2.25, 0.25, 0.25 and dy² = 0.0625 (row 0),
    /// 0.5625 (row 1); β = 2.
    @Test(arguments: [
        (DynamicScale.type1, [Double](), [-1.15625, -0.15625, -0.15625, -1.40625, -0.40625, -0.40625]),
        (.type2, [4], [-4.625, -0.625, -0.625, -5.625, -1.625, -1.625]),
        (.type3, [2, 8], [-2.5, -0.5, -0.5, -4.5, -2.5, -2.5]),
        (.type4, [2, 8, 1], [-2.5703125, -0.5078125, -0.5078125, -5.1328125, -2.5703125, -2.5703125]),
    ])
    func mapsByHand(scale: DynamicScale, scales: [Double], expected: [Double]) {
        let centre = Tensor([1.5, 0.25], shape: [1, 1, 1, 2], dtype: .float64)
        let s = scales.isEmpty ? nil : Tensor(scales, shape: [1, 1, 1, scales.count], dtype: .float64)
        let map = scale.logMap(centres: centre, scales: s, height: 2, width: 3, smooth: 2)
        #expect(map.shape == [1, 1, 1, 6])
        #expect(map.doubles() == expected)
    }

    /// B 2, 3 heads, 2 queries on a 3 × 4 map, type3: entry [b, h, q, y·4 + x] of the map
    /// against −(s_x(p_x − x)² + s_y(p_y − y)²)/β written as loops over the scalars.
    @Test func layoutOfBatchesHeadsAndCells() {
        let (q, b, heads, h, w, beta) = (2, 2, 3, 3, 4, 8.0)
        let centres = randomTensor([q, b, heads, 2], seed: 1, low: -1, high: 5)
        let scales = randomTensor([q, b, heads, 2], seed: 2, low: 0, high: 2)
        let map = DynamicScale.type3.logMap(centres: centres, scales: scales, height: h, width: w, smooth: beta).doubles()
        let p = centres.doubles(), s = scales.doubles()
        var expected: [Double] = []
        for image in 0..<b { for head in 0..<heads { for query in 0..<q { for y in 0..<h { for x in 0..<w {
            let i = ((query * b + image) * heads + head) * 2
            let dx = p[i] - Double(x), dy = p[i + 1] - Double(y)
            expected.append(-(s[i] * dx * dx + s[i + 1] * dy * dy) / beta)
        } } } } }
        #expect(maxAbsDifference(map, expected) < 1e-14)
    }

    @Test(arguments: DynamicScale.allCases)
    func decoderLayersGradcheck(scale: DynamicScale) {
        let (q, b, d, h, w) = (3, 2, 8, 2, 3)
        let memory = randomTensor([h * w, b, d], seed: 3), position = randomTensor([h * w, b, d], seed: 4)
        let queryPosition = randomTensor([q, b, d], seed: 5)
        let padding = Tensor([false, false, true, false, false, true, false, false, false, false, false, false] as [Bool8], shape: [b, h * w])
        let size = Tensor([64, 48, 96, 64], shape: [b, 2], dtype: .float64)
        let first = SpatiallyModulatedDecoderLayer(dModel: d, heads: 2, feedforward: 6, dropout: 0, dynamicScale: scale, smooth: 8, predictsCentre: true)
        let next = SpatiallyModulatedDecoderLayer(dModel: d, heads: 2, feedforward: 6, dropout: 0, dynamicScale: scale, smooth: 8, predictsCentre: false)
        #expect(first.point1 != nil && next.point1 == nil && (first.point3?.outFeatures ?? 0) == 2 * scale.scalesPerHead)
        func run(_ layer: SpatiallyModulatedDecoderLayer, _ target: Tensor, centre: Tensor?) -> (output: Tensor, centreLogits: Tensor?, centre: Tensor) {
            layer(target, memory: memory, position: position, queryPosition: queryPosition, padding: padding,
                  featureSize: (h, w), imageSize: size, stride: 32, centre: centre)
        }
        expectModuleGradcheck(first, input: randomTensor([q, b, d], seed: 6)) { target in
            let step = run(first, target, centre: nil)
            return step.output.sum(axis: 2) + step.centreLogits!.sum(axis: 2)
        }
        let centre = randomTensor([q, b, 2], seed: 7, low: 0, high: 3)
        expectModuleGradcheck(next, input: centre) { centre in run(next, randomTensor([q, b, d], seed: 8), centre: centre).output }
    }

    /// The whole transformer, the first layer's centre feeding the second: gradients with
    /// respect to the source map and every parameter, including the centre MLP through
    /// the second layer's prior.
    @Test(arguments: [DynamicScale.type1, .type2, .type3])
    func transformerGradcheck(scale: DynamicScale) {
        let transformer = SpatiallyModulatedTransformer(dModel: 8, heads: 2, encoderLayers: 1, decoderLayers: 2, feedforward: 6, dropout: 0,
                                                        dynamicScale: scale, smooth: 4)
        // Scales away from their initial 1 so that the prior depends on point3's weights.
        for layer in transformer.decoder.layers { layer.point3?.weight.value = randomTensor(layer.point3!.weight.shape, seed: 9, dtype: .float32) }
        let mask = Tensor([false, false, false, false, false, true, false, false, true, true, true, true] as [Bool8], shape: [2, 2, 3])
        let size = Tensor([96, 64, 32, 32], shape: [2, 2], dtype: .float64)
        let queries = randomTensor([3, 8], seed: 10), position = randomTensor([2, 8, 2, 3], seed: 11)
        expectModuleGradcheck(transformer, input: randomTensor([2, 8, 2, 3], seed: 12)) { source in
            let (hs, centreLogits) = transformer(sources: [source], masks: [mask], positions: [position], queryEmbedding: queries, imageSize: size,
                                                 strides: [32], referenceStride: 32)
            #expect(hs.shape == [2, 2, 3, 8] && centreLogits.shape == [2, 3, 2])
            return hs.sum(axis: 3) + centreLogits.sum(axis: 2)
        }
    }

    /// Parameter names and the original's initial scales (point3 weight 0, bias 1).
    @Test func namesAndInitialScales() {
        let transformer = SpatiallyModulatedTransformer(dModel: 16, heads: 4, encoderLayers: 1, decoderLayers: 2, feedforward: 8, dropout: 0,
                                                        dynamicScale: .type3, smooth: 8)
        let names = Set(transformer.namedParameters().map(\.0))
        for name in ["decoder.layers.0.point1.layers.2.weight", "decoder.layers.0.point2.weight", "decoder.layers.1.point3.bias",
                     "decoder.layers.1.norm4.weight", "decoder.layers.1.multihead_attn.in_proj_weight", "decoder.norm.weight"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("decoder.layers.1.point1.layers.0.weight"))
        let point3 = transformer.decoder.layers[1].point3!
        #expect(point3.weight.shape == [8, 16] && point3.weight.value.doubles().allSatisfy { $0 == 0 } && point3.bias!.value.doubles().allSatisfy { $0 == 1 })
    }

    /// A map whose cells are half a reference cell (a stride-16 map under stride-32 centres):
    /// centre (1, 0) on a 1 × 3 grid at x = 0, 0.5, 1 gives dx² = 1, 0.25, 0.
    @Test func cellSizeSpacesTheGrid() {
        let map = DynamicScale.type1.logMap(centres: Tensor([1, 0], shape: [1, 1, 1, 2], dtype: .float64), scales: nil, height: 1, width: 3,
                                            smooth: 1, cellSize: 0.5)
        #expect(map.doubles() == [-1, -0.25, 0])
    }
}

/// Multi-scale SMCA (the paper's §3.3): mixing scales by their weights, reduction to
/// single-scale SMCA with one scale, and gradient checks through the whole transformer.
@Suite struct MultiScaleSpatialModulation {
    /// The multi-scale co-attention with weights (0.25, 0.75) is that mix of two
    /// MultiheadAttentions built from the same projections (the output projection is affine
    /// and the weights sum to 1).
    @Test func scalesMixByTheirWeights() {
        let (q, b, d) = (3, 2, 8)
        let attention = MultiScaleCoAttention(embedDim: d, heads: 2, scales: 2)
        attention.convert(to: .float64)
        let query = randomTensor([q, b, d], seed: 1)
        let keys = [randomTensor([5, b, d], seed: 2), randomTensor([4, b, d], seed: 3)], values = [randomTensor([5, b, d], seed: 4), randomTensor([4, b, d], seed: 5)]
        let biases = [randomTensor([b, 2, q, 5], seed: 6), randomTensor([b, 2, q, 4], seed: 7)]
        let alpha = Tensor.concat([Tensor.full([q, b, 1], value: 0.25, dtype: .float64), Tensor.full([q, b, 1], value: 0.75, dtype: .float64)], axis: 2)
        let mixed = attention(query: query, keys: keys, values: values, biases: biases, scaleWeights: alpha)
        let single = (0..<2).map { j -> Tensor in
            let mha = MultiheadAttention(embedDim: d, heads: 2)
            mha.convert(to: .float64)
            mha.inProjWeight.value = Tensor.concat([attention.qProj.weight.value, attention.kProj[j].weight.value, attention.vProj[j].weight.value], axis: 0)
            mha.inProjBias.value = Tensor.concat([attention.qProj.bias!.value, attention.kProj[j].bias!.value, attention.vProj[j].bias!.value], axis: 0)
            (mha.outProj.weight.value, mha.outProj.bias!.value) = (attention.outProj.weight.value, attention.outProj.bias!.value)
            return mha(query: query, key: keys[j], value: values[j], logitBias: biases[j]).output
        }
        #expect(maxAbsDifference(mixed.doubles(), (single[0] * 0.25 + single[1] * 0.75).doubles()) < 1e-13)
    }

    /// One scale at the reference stride, no scale embedding: the multi-scale transformer is
    /// single-scale SMCA (the scale weight is softmax of one logit, 1), given the same weights
    /// (the packed in_proj rows split into q_proj, k_proj.0 and v_proj.0).
    @Test(arguments: [false, true])
    func oneScaleIsSingleScaleSMCA(crossScale: Bool) {
        let single = SpatiallyModulatedTransformer(dModel: 8, heads: 2, encoderLayers: 2, decoderLayers: 2, feedforward: 6, dropout: 0,
                                                   dynamicScale: .type3, smooth: 8)
        let multi = MultiScaleSpatiallyModulatedTransformer(dModel: 8, heads: 2, scales: 1, encoderCrossScale: [false, crossScale], decoderLayers: 2,
                                                            feedforward: 6, dropout: 0, dynamicScale: .type3, smooth: 8)
        for module in [single, multi] as [Module] { module.convert(to: .float64) }
        for layer in single.decoder.layers { layer.point3!.weight.value = randomTensor(layer.point3!.weight.shape, seed: 8) }
        let target = Dictionary(uniqueKeysWithValues: multi.namedParameters())
        var copied = 0
        for (name, p) in single.namedParameters() {
            let value = p.value
            if name.contains("multihead_attn.in_proj") {
                let prefix = name.components(separatedBy: "in_proj")[0], suffix = name.hasSuffix("weight") ? "weight" : "bias"
                for (part, key) in ["q_proj", "k_proj.0", "v_proj.0"].enumerated() {
                    target[prefix + key + "." + suffix]!.value = value.slice(axis: 0, start: part * 8, end: (part + 1) * 8)
                    copied += 1
                }
            } else {
                target[name]!.value = value
                copied += 1
            }
        }
        multi.levelEmbed.value = Tensor.zeros([1, 8], dtype: .float64)
        #expect(copied == target.count - 5, "every parameter but point4 (weight and bias of each layer) and the scale embedding has its single-scale counterpart")
        let source = randomTensor([2, 8, 2, 3], seed: 9), position = randomTensor([2, 8, 2, 3], seed: 10), queries = randomTensor([3, 8], seed: 11)
        let mask = Tensor([false, false, false, false, false, true, false, false, true, true, true, true] as [Bool8], shape: [2, 2, 3])
        let size = Tensor([96, 64, 32, 32], shape: [2, 2], dtype: .float64)
        let a = single(sources: [source], masks: [mask], positions: [position], queryEmbedding: queries, imageSize: size, strides: [32], referenceStride: 32)
        let b = multi(sources: [source], masks: [mask], positions: [position], queryEmbedding: queries, imageSize: size, strides: [32], referenceStride: 32)
        #expect(maxAbsDifference(a.hs.doubles(), b.hs.doubles()) < 1e-12 && maxAbsDifference(a.centreLogits.doubles(), b.centreLogits.doubles()) < 1e-12)
    }

    /// Two scales (strides 16 and 32 under stride-32 centres), an intra-scale and a
    /// cross-scale encoder layer, two decoder layers: gradients with respect to both maps and
    /// every parameter, including the scale selection and the scale embeddings.
    @Test(arguments: [DynamicScale.type2, .type3])
    func transformerGradcheck(scale: DynamicScale) {
        let transformer = MultiScaleSpatiallyModulatedTransformer(dModel: 8, heads: 2, scales: 2, encoderCrossScale: [false, true], decoderLayers: 2,
                                                                  feedforward: 6, dropout: 0, dynamicScale: scale, smooth: 4)
        for layer in transformer.decoder.layers { layer.point3?.weight.value = randomTensor(layer.point3!.weight.shape, seed: 12, dtype: .float32) }
        let fine = Tensor([false, false, false, false, false, false, false, true, false, false, false, true, false, false, false, false,
                           true, true, true, true, false, false, false, true] as [Bool8], shape: [2, 3, 4])
        let coarse = Tensor([false, false, false, false, true, true, false, true] as [Bool8], shape: [2, 2, 2])
        let size = Tensor([56, 40, 48, 24], shape: [2, 2], dtype: .float64)
        let queries = randomTensor([3, 8], seed: 13), positions = [randomTensor([2, 8, 3, 4], seed: 14), randomTensor([2, 8, 2, 2], seed: 15)]
        let coarseSource = randomTensor([2, 8, 2, 2], seed: 16)
        expectModuleGradcheck(transformer, input: randomTensor([2, 8, 3, 4], seed: 17)) { fineSource in
            let (hs, centreLogits) = transformer(sources: [fineSource, coarseSource], masks: [fine, coarse], positions: positions, queryEmbedding: queries,
                                                 imageSize: size, strides: [16, 32], referenceStride: 32)
            return hs.sum(axis: 3) + centreLogits.sum(axis: 2)
        }
    }
}
