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
}
