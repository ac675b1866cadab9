import Testing
@testable import Tapestry
@testable import TapestryNN

@Suite struct AttentionRecording {
    /// A decoder layer under the recorder: its self- and cross-attention weights arrive by
    /// state-dict name, equal to the weights the layers return when asked directly, and the
    /// layer's output is unchanged.
    @Test func recordsEveryAttentionByNameWithoutChangingTheOutput() {
        let layer = TransformerDecoderLayer(dModel: 8, heads: 2, feedforward: 16, dropout: 0)
        layer.convert(to: .float64)
        layer.eval()
        let target = randomTensor([3, 2, 8], seed: 1), memory = randomTensor([5, 2, 8], seed: 2)
        let plain = layer(target, memory: memory)
        let recorder = AttentionRecorder(model: layer)
        let recorded = recorder.record { layer(target, memory: memory) }
        #expect(recorded.doubles() == plain.doubles())
        #expect(recorder.records.map(\.layer) == ["self_attn", "multihead_attn"])
        #expect(recorder.records.map(\.weights.shape) == [[2, 2, 3, 3], [2, 2, 3, 5]])
        // The cross-attention's weights, asked of the layer directly with the same inputs.
        let t1 = layer.norm1(target + layer.selfAttn(query: target, key: target, value: target, needWeights: false).output)
        let direct = layer.multiheadAttn(query: t1, key: memory, value: memory, averageWeights: false).weights!
        #expect(maxAbsDifference(recorder.records[1].weights.doubles(), direct.doubles()) < 1e-15)
        // Without a logit bias none is recorded; with one (SMCA's priors), it is.
        #expect(recorder.records.allSatisfy { $0.bias == nil })
        let bias = randomTensor([2, 2, 3, 5], seed: 3)
        let biased = AttentionRecorder(model: layer)
        _ = biased.record { layer(target, memory: memory, crossAttentionBias: bias) }
        #expect(biased.records[1].bias?.doubles() == bias.doubles())
        // Outside `record` nothing is collected.
        _ = layer(target, memory: memory)
        #expect(recorder.records.count == 2)
    }

    /// Deformable attention under the recorder: the recorded locations and weights, sampled
    /// from the projected input by the composite grid-sample path and projected out, give the
    /// layer's output — the points are where the layer sampled. Each head's weights are a
    /// distribution over its L·P points.
    @Test func recordsWhereDeformableAttentionSamples() {
        let attention = MultiScaleDeformableAttention(dModel: 8, levels: 2, heads: 2, points: 2)
        attention.samplingOffsets.weight.value = Initialization.uniform(attention.samplingOffsets.weight.shape, bound: 0.5)
        attention.attentionWeights.weight.value = Initialization.uniform(attention.attentionWeights.weight.shape, bound: 0.5)
        attention.convert(to: .float64)
        let shapes = [(3, 4), (2, 2)]
        let query = randomTensor([1, 3, 8], seed: 4), input = randomTensor([1, 16, 8], seed: 5)
        let references = randomTensor([1, 3, 2, 2], seed: 6, low: 0.2, high: 0.8)
        let recorder = AttentionRecorder(model: attention)
        let output = recorder.record { attention(query: query, referencePoints: references, input: input, spatialShapes: shapes) }
        #expect(recorder.samplings.count == 1 && recorder.records.isEmpty)
        let record = recorder.samplings[0]
        #expect(record.locations.shape == [1, 3, 2, 2, 2, 2] && record.weights.shape == [1, 3, 2, 2, 2])
        #expect(record.spatialShapes.map { [$0.height, $0.width] } == [[3, 4], [2, 2]])
        let value = attention.valueProj(input).reshaped([1, 16, 2, 4])
        let resampled = attention.outputProj(Tensor.compositeDeformableSampling(value: value, spatialShapes: shapes,
                                                                                locations: record.locations, weights: record.weights))
        #expect(maxAbsDifference(resampled.doubles(), output.doubles()) < 1e-12)
        let perHead = record.weights.reshaped([6, 4]).sum(axis: 1).doubles()
        #expect(perHead.allSatisfy { Swift.abs($0 - 1) < 1e-12 })
    }

    /// Local self-attention under the recorder: each pixel's recorded weights [B, N, k², H, W],
    /// applied by explicit loops to the layer's values over the pixel's window (offset a·k + b
    /// at row i + a − p, column j + b − p; zero outside the image), give the layer's output.
    /// So the weights are the ones the fused kernel used, in the layout the pictures read.
    @Test func recordsLocalAttentionNeighbourhoods() {
        let layer = LocalSelfAttention(inChannels: 3, outChannels: 4, kernelSize: 3, heads: 2)
        layer.convert(to: .float64)
        let input = randomTensor([2, 3, 4, 5], seed: 4)
        let recorder = AttentionRecorder(model: Sequential(layer))
        let output = recorder.record { layer(input) }.doubles()
        #expect(recorder.neighbourhoods.map(\.layer) == ["0"] && recorder.neighbourhoods[0].kernelSize == 3)
        let weights = recorder.neighbourhoods[0].weights
        #expect(weights.shape == [2, 2, 9, 4, 5])
        let (w, v) = (weights.doubles(), layer.valueConv(input).doubles())       // v [2, 4, 4, 5]
        var expected = [Double](repeating: 0, count: output.count)
        for b in 0..<2 {
            for channel in 0..<4 {
                let head = channel / 2
                for i in 0..<4 {
                    for j in 0..<5 {
                        var sum = 0.0
                        for offset in 0..<9 {
                            let (r, c) = (i + offset / 3 - 1, j + offset % 3 - 1)
                            guard r >= 0, r < 4, c >= 0, c < 5 else { continue }
                            sum += w[(((b * 2 + head) * 9 + offset) * 4 + i) * 5 + j] * v[((b * 4 + channel) * 4 + r) * 5 + c]
                        }
                        expected[((b * 4 + channel) * 4 + i) * 5 + j] = sum
                    }
                }
            }
        }
        #expect(maxAbsDifference(output, expected) < 1e-12)
    }
}
