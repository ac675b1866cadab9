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
            let (hs, centreLogits) = transformer(source, mask: mask, queryEmbedding: queries, position: position, imageSize: size, stride: 32)
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
}
