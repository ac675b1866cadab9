import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

/// Float64 central-difference checks of every layer, with respect to its input and all of
/// its trainable parameters.
@Suite struct LayerGradients {
    @Test func linearConvolutionAndMLP() {
        let linear = Linear(3, 2)
        expectModuleGradcheck(linear, input: randomTensor([2, 4, 3], seed: 1)) { linear($0) }
        let conv = Conv2d(4, 6, kernelSize: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2)
        expectModuleGradcheck(conv, input: randomTensor([2, 4, 5, 6], seed: 2)) { conv($0) }
        let mlp = MLP(inputDim: 3, hiddenDim: 5, outputDim: 2, layerCount: 3)
        expectModuleGradcheck(mlp, input: randomTensor([4, 3], seed: 3)) { mlp($0) }
    }

    @Test func normalizations() {
        let batchNorm = BatchNorm2d(3)
        expectModuleGradcheck(batchNorm, input: randomTensor([2, 3, 4, 5], seed: 4)) { batchNorm($0) }
        batchNorm.eval()
        expectModuleGradcheck(batchNorm, input: randomTensor([2, 3, 4, 5], seed: 5)) { batchNorm($0) }
        let frozen = FrozenBatchNorm2d(3)
        expectModuleGradcheck(frozen, input: randomTensor([2, 3, 2, 2], seed: 6)) { frozen($0) }
        let layerNorm = LayerNorm(5)
        expectModuleGradcheck(layerNorm, input: randomTensor([3, 5], seed: 7)) { layerNorm($0) }
        let groupNorm = GroupNorm(groups: 2, channels: 4)
        expectModuleGradcheck(groupNorm, input: randomTensor([2, 4, 3, 2], seed: 8)) { groupNorm($0) }
    }

    @Test func embeddingsAndPositionalEncodings() {
        let embedding = Embedding(5, 3)
        let indices = Tensor([4, 0, 4, 2] as [Int64], shape: [2, 2])
        expectModuleGradcheck(embedding, input: randomTensor([1], seed: 9)) { embedding(indices) * $0 }
        let learned = LearnedPositionalEncoding(features: 3, positions: 6)
        expectModuleGradcheck(learned, input: randomTensor([1], seed: 10)) { learned(batch: 2, height: 4, width: 5) * $0 }
    }

    @Test func attention() {
        let attention = MultiheadAttention(embedDim: 8, heads: 2)
        let key = randomTensor([5, 2, 8], seed: 12), value = randomTensor([5, 2, 8], seed: 13)
        let padding = Tensor([false, false, true, false, true, false, false, false, false, true] as [Bool8], shape: [2, 5])
        let bias = randomTensor([2, 2, 3, 5], seed: 14)
        // The weights' rows sum to 1 whatever the input, so they enter through a fixed
        // weighting (a plain row sum would have zero gradient and check nothing).
        let weighting = randomTensor([2, 3, 5], seed: 26)
        expectModuleGradcheck(attention, input: randomTensor([3, 2, 8], seed: 11)) {
            let (out, weights) = attention(query: $0, key: key, value: value, keyPaddingMask: padding, logitBias: bias)
            return out.sum(axis: 2) + (weights! * weighting).sum(axis: 2).transposed()
        }
        let single = MultiheadAttention(embedDim: 4, heads: 1, batchFirst: true)
        let blocked = Tensor([false, true, false, false, false, true] as [Bool8], shape: [2, 3])
        expectModuleGradcheck(single, input: randomTensor([2, 2, 4], seed: 15)) {
            single(query: $0, key: randomTensor([2, 3, 4], seed: 16), value: randomTensor([2, 3, 4], seed: 17), attentionMask: blocked).output
        }
        let local = LocalSelfAttention(inChannels: 3, outChannels: 4, kernelSize: 3, heads: 2)
        expectModuleGradcheck(local, input: randomTensor([1, 3, 4, 5], seed: 18)) { local($0) }
        let stem = AttentionStem(inChannels: 2, outChannels: 4, kernelSize: 4, padding: 2, heads: 2, mixtures: 3)
        expectModuleGradcheck(stem, input: randomTensor([1, 2, 3, 4], seed: 19)) { stem($0) }
    }

    @Test func transformerLayers() {
        let position = randomTensor([6, 2, 8], seed: 21), queryPosition = randomTensor([3, 2, 8], seed: 22)
        let padding = Tensor([false, false, false, false, true, true, false, false, false, false, false, false] as [Bool8], shape: [2, 6])
        for preNorm in [false, true] {
            let encoder = TransformerEncoderLayer(dModel: 8, heads: 2, feedforward: 12, dropout: 0, preNorm: preNorm)
            expectModuleGradcheck(encoder, input: randomTensor([6, 2, 8], seed: 20)) { encoder($0, position: position, keyPaddingMask: padding) }
            let decoder = TransformerDecoderLayer(dModel: 8, heads: 2, feedforward: 12, dropout: 0, activation: .gelu, preNorm: preNorm)
            let memory = randomTensor([6, 2, 8], seed: 23)
            expectModuleGradcheck(decoder, input: randomTensor([3, 2, 8], seed: 24)) {
                decoder($0, memory: memory, position: position, queryPosition: queryPosition, memoryKeyPaddingMask: padding)
            }
        }
        let encoderStack = TransformerEncoder(layers: (0..<2).map { _ in TransformerEncoderLayer(dModel: 4, heads: 2, feedforward: 6, dropout: 0) }, norm: LayerNorm(4))
        expectModuleGradcheck(encoderStack, input: randomTensor([3, 2, 4], seed: 27)) {
            encoderStack($0, position: randomTensor([3, 2, 4], seed: 28), keyPaddingMask: Tensor([false, false, true, false, false, false] as [Bool8], shape: [2, 3]))
        }
        // Its initial weights come from a fixed stream: from zero targets, some draws leave a
        // LayerNorm over four nearly equal values, whose curvature puts central differences
        // off by 0.6% at gradients of 6e3 (a draw that depended on which tests ran first).
        let stack = DefaultRandom.withGenerator(RandomGenerator(seed: 26)) {
            TransformerDecoder(layers: (0..<2).map { _ in TransformerDecoderLayer(dModel: 4, heads: 1, feedforward: 4, dropout: 0) }, norm: LayerNorm(4))
        }.0
        expectModuleGradcheck(stack, input: randomTensor([2, 1, 4], seed: 25)) { stack(Tensor.zeros([2, 1, 4], dtype: .float64), memory: $0, queryPosition: $0) }
    }

    @Test func dropoutWithAFixedMask() {
        // A fresh layer with the same seed draws the same mask on every evaluation.
        let x = randomTensor([6, 5], seed: 32)
        let mask = Dropout(0.3, seed: 5)(Tensor.ones([6, 5], dtype: .float64)).doubles()
        #expect(mask.contains(0) && mask.contains { Swift.abs($0 - 1 / 0.7) < 1e-12 })
        expectGradcheck([x]) { Dropout(0.3, seed: 5)($0[0]) }
    }

    @Test func resNet() {
        // ResNet-18 at width 2 (every stage, stride and downsampling path), in training mode
        // with batch statistics; along random directions, as it has 12k parameters. 64 pixels,
        // so the last stage normalizes over 2·2·2 values (over 2, at 32 pixels, its outputs
        // are ±1 whatever the input, and central differences lose their accuracy). A step of
        // 1e-8: along a direction that moves all 12k parameters at once, a step of 1e-6 carries
        // one of its ~30k ReLU inputs across zero for a third of weight draws. The weights come
        // from their own generator, not from what other tests left in the default one.
        let resnet = DefaultRandom.withGenerator(RandomGenerator(seed: 4)) { ResNet(.resnet18, classes: 3, width: 2) }.0
        let report = gradcheck(resnet, inputs: [randomTensor([2, 3, 64, 64], seed: 33)], eps: 1e-8, mode: .randomDirections(count: 6)) { resnet($0[0]) }
        #expect(report.passed, "\(report)")
    }

    @Test func losses() {
        let logits = randomTensor([5, 4], seed: 34, low: -3, high: 3)
        let targets = Tensor([0, 3, 1, 3, 2] as [Int64]), weight = Tensor([1, 0.5, 2, 0.1] as [Double])
        expectGradcheck([logits]) { Losses.crossEntropy(logits: $0[0], targets: targets, weight: weight, ignoreIndex: 3) }
        expectGradcheck([logits]) { Losses.crossEntropy(logits: $0[0], targets: targets, reduction: .none) }
        let probabilities = randomTensor([5, 4], seed: 35, low: 0, high: 1)
        expectGradcheck([logits, probabilities]) { Losses.binaryCrossEntropyWithLogits(logits: $0[0], targets: $0[1]) }
        let onehot = Tensor.zeros([5, 4], dtype: .float64).scatterAdd(axis: 1, index: targets.unsqueezed(axis: 1), source: Tensor.ones([5, 1], dtype: .float64))
        expectGradcheck([logits]) { Losses.sigmoidFocalLoss(logits: $0[0], targets: onehot, alpha: 0.25, gamma: 2) }
        // Differences on both sides of β = 0.5, none within eps of the kink.
        let a = randomTensor([12], seed: 36, low: -2, high: 2), b = randomTensor([12], seed: 37, low: -2, high: 2)
        #expect((a - b).abs().doubles().contains { $0 < 0.5 } && (a - b).abs().doubles().contains { $0 > 0.5 })
        expectGradcheck([a, b]) { Losses.smoothL1($0[0], $0[1], beta: 0.5, reduction: .sum) }
        expectGradcheck([a, b]) { Losses.l1($0[0], $0[1]) }
    }

    @Test func residualBlocks() {
        let basic = BasicBlock(4, 4, stride: 1, downsample: nil, norm: .batchNorm)
        expectModuleGradcheck(basic, input: randomTensor([2, 4, 4, 4], seed: 30)) { basic($0) }
        let downsample = Sequential(Conv2d(4, 8, kernelSize: 1, stride: 2, bias: false), FrozenBatchNorm2d(8))
        let bottleneck = Bottleneck(4, 2, stride: 2, dilation: 1, downsample: downsample, norm: .frozenBatchNorm)
        expectModuleGradcheck(bottleneck, input: randomTensor([1, 4, 5, 5], seed: 31)) { bottleneck($0) }
    }
}

@Suite struct LayerValues {
    @Test func batchNormStatisticsByHand() {
        let norm = BatchNorm2d(1, momentum: 0.1)
        let x = Tensor([1, 2, 3, 6] as [Float], shape: [2, 1, 1, 2])
        let y = norm(x)
        // mean 3, biased variance (4 + 1 + 0 + 9)/4 = 3.5, unbiased 14/3.
        let expected = [1, 2, 3, 6].map { (Float($0) - 3) / (3.5 + 1e-5).squareRoot() }
        #expect(maxAbsDifference(y.doubles(), expected.map(Double.init)) < 1e-6)
        #expect(Swift.abs(norm.runningMean.value.item() - 0.3) < 1e-6)
        #expect(Swift.abs(norm.runningVar.value.item() - (0.9 + 0.1 * 14 / 3)) < 1e-6)
        #expect(norm.numBatchesTracked.value.item() == 1)
        norm.eval()
        let evaluated = norm(x)
        #expect(maxAbsDifference(evaluated.doubles(), [1, 2, 3, 6].map { ($0 - 0.3) / (0.9 + 0.1 * 14 / 3 + 1e-5).squareRoot() }) < 1e-5)
        #expect(norm.numBatchesTracked.value.item() == 1, "evaluation leaves the statistics alone")
    }

    @Test func poolingLayersByHand() {
        let x = Tensor((0..<16).map(Double.init), shape: [1, 1, 4, 4])
        #expect(MaxPool2d(kernelSize: 2)(x).doubles() == [5, 7, 13, 15])
        #expect(AvgPool2d(kernelSize: 2)(x).doubles() == [2.5, 4.5, 10.5, 12.5])
        #expect(MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(x).doubles() == [5, 7, 13, 15])
        #expect(AdaptiveAvgPool2d(outputSize: (1, 1))(x).doubles() == [7.5])
    }

    @Test func dropoutIsSeededScaledAndOffInEvaluation() {
        let x = Tensor.ones([10_000], dtype: .float64)
        let a = Dropout(0.25, seed: 3)(x), b = Dropout(0.25, seed: 3)(x)
        #expect(a.doubles() == b.doubles())
        let kept = a.doubles().filter { $0 != 0 }
        #expect(kept.allSatisfy { Swift.abs($0 - 1 / 0.75) < 1e-12 })
        #expect(Swift.abs(Double(kept.count) / 10_000 - 0.75) < 0.02)
        let off = Dropout(0.25, seed: 3)
        off.eval()
        #expect(off(x).doubles() == x.doubles())
    }

    @Test func sineEncodingMatchesTheFormula() {
        // Image 0 is fully valid 3×4; image 1 has its last column and last row padded.
        var mask = [Bool8](repeating: false, count: 24)
        for i in 0..<3 { mask[12 + i * 4 + 3] = true }
        for j in 0..<4 { mask[12 + 2 * 4 + j] = true }
        let encoding = SinePositionalEncoding(features: 4)(mask: Tensor(mask, shape: [2, 3, 4]), dtype: .float64)
        #expect(encoding.shape == [2, 8, 3, 4])
        let values = encoding.doubles()
        func value(_ b: Int, _ c: Int, _ i: Int, _ j: Int) -> Double { values[((b * 8 + c) * 3 + i) * 4 + j] }
        for b in 0..<2 {
            for i in 0..<3 {
                for j in 0..<4 {
                    let valid = { (r: Int, s: Int) in b == 0 || (r < 2 && s < 3) }
                    let ey = Double((0...i).filter { valid($0, j) }.count), eyLast = Double((0..<3).filter { valid($0, j) }.count)
                    let ex = Double((0...j).filter { valid(i, $0) }.count), exLast = Double((0..<4).filter { valid(i, $0) }.count)
                    let y = ey / (eyLast + 1e-6) * 2 * .pi, x = ex / (exLast + 1e-6) * 2 * .pi
                    for k in 0..<4 {
                        let f = Foundation.pow(10000.0, Double(2 * (k / 2)) / 4)
                        let wantY = k % 2 == 0 ? Foundation.sin(y / f) : Foundation.cos(y / f)
                        let wantX = k % 2 == 0 ? Foundation.sin(x / f) : Foundation.cos(x / f)
                        #expect(Swift.abs(value(b, k, i, j) - wantY) < 1e-12, "y channel \(k) at \(b),\(i),\(j)")
                        #expect(Swift.abs(value(b, 4 + k, i, j) - wantX) < 1e-12, "x channel \(k) at \(b),\(i),\(j)")
                    }
                }
            }
        }
    }

    @Test func transformerNamesFollowDETR() {
        let encoder = TransformerEncoder(layers: [TransformerEncoderLayer(dModel: 8, heads: 2, feedforward: 16)])
        #expect(encoder.stateDict().map(\.0) == [
            "layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias", "layers.0.self_attn.out_proj.weight",
            "layers.0.self_attn.out_proj.bias", "layers.0.linear1.weight", "layers.0.linear1.bias", "layers.0.linear2.weight",
            "layers.0.linear2.bias", "layers.0.norm1.weight", "layers.0.norm1.bias", "layers.0.norm2.weight", "layers.0.norm2.bias"])
        let decoder = TransformerDecoder(layers: [TransformerDecoderLayer(dModel: 8, heads: 2, feedforward: 16)], norm: LayerNorm(8))
        #expect(decoder.stateDict().map(\.0).filter { !$0.contains("attn") } == [
            "layers.0.linear1.weight", "layers.0.linear1.bias", "layers.0.linear2.weight", "layers.0.linear2.bias",
            "layers.0.norm1.weight", "layers.0.norm1.bias", "layers.0.norm2.weight", "layers.0.norm2.bias",
            "layers.0.norm3.weight", "layers.0.norm3.bias", "norm.weight", "norm.bias"])
        #expect(decoder(Tensor.zeros([3, 2, 8]), memory: Tensor.zeros([5, 2, 8])).shape == [1, 3, 2, 8])
        #expect(LearnedPositionalEncoding(features: 4).stateDict().map(\.0) == ["row_embed.weight", "col_embed.weight"])
    }

    @Test func crossEntropyIgnoresAndWeighs() {
        let logits = Tensor([2, 0, 0, 0, 1, 0, 0, 0, 3] as [Double], shape: [3, 3])
        let targets = Tensor([0, 2, 2] as [Int64])
        let nll = (0..<3).map { r -> Double in
            let row = Array(logits.doubles()[(r * 3)..<(r * 3 + 3)])
            return -(row[Int(targets.scalars(as: Int64.self)[r])] - Foundation.log(row.map(Foundation.exp).reduce(0, +)))
        }
        let weight = Tensor([1, 1, 0.5] as [Double])
        let mean = Losses.crossEntropy(logits: logits, targets: targets, weight: weight).item()
        #expect(Swift.abs(mean - (nll[0] + 0.5 * nll[1] + 0.5 * nll[2]) / 2) < 1e-12)
        let ignored = Losses.crossEntropy(logits: logits, targets: targets, ignoreIndex: 0).item()
        #expect(Swift.abs(ignored - (nll[1] + nll[2]) / 2) < 1e-12)
        let smooth = Losses.smoothL1(Tensor([0, 3] as [Double]), Tensor([0.5, 0] as [Double]), reduction: .none)
        #expect(smooth.doubles() == [0.125, 2.5])
        let bce = Losses.binaryCrossEntropyWithLogits(logits: Tensor([50, -50, 0] as [Double]), targets: Tensor([1, 1, 0] as [Double]), reduction: .none)
        #expect(maxAbsDifference(bce.doubles(), [Foundation.log1p(Foundation.exp(-50)), 50 + Foundation.log1p(Foundation.exp(-50)), Foundation.log(2)]) < 1e-12)
    }
}
