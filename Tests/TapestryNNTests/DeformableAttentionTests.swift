import Testing
@testable import Tapestry
@testable import TapestryNN

@Suite struct DeformableAttention {
    static let shapes = [(3, 4), (2, 2), (1, 3)]
    static let tokens = 12 + 4 + 3

    /// Random value/locations/weights with locations partly outside [0, 1].
    func inputs(seed: UInt64, queries: Int = 5) -> (Tensor, Tensor, Tensor) {
        (randomTensor([2, Self.tokens, 2, 3], seed: seed), randomTensor([2, queries, 2, 3, 2, 2], seed: seed + 1, low: -0.2, high: 1.2),
         randomTensor([2, queries, 2, 3, 2], seed: seed + 2, low: 0, high: 1))
    }

    /// 5 queries run the kernels on one thread; 1200 make 86,400 sampled channels, past the
    /// 2¹⁵ above which they split (batch, head) pairs over threads. A value shared by the
    /// heads ([B, S, 1, C]) gathers every head's value gradient on the same rows, which the
    /// backward pass must not split between threads.
    @Test(arguments: [5, 1200], [false, true]) func fusedKernelMatchesTheCompositeForwardAndBackward(queries: Int, sharedValue: Bool) {
        var (value, locations, weights) = inputs(seed: 1, queries: queries)
        if sharedValue { value = randomTensor([2, Self.tokens, 1, 3], seed: 1) }
        let cotangent = randomTensor([2, queries, 6], seed: 9)
        func run(_ fused: Bool, valueGradient: Bool = true) -> [[Double]] {
            let (v, l, w) = (valueGradient ? value.requiringGrad() : value, locations.requiringGrad(), weights.requiringGrad())
            let out = fused ? Tensor.deformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
                            : Tensor.compositeDeformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
            let grads = gradients(of: [out], wrt: valueGradient ? [v, l, w] : [l, w], cotangents: [cotangent])
            return [out.doubles()] + grads.map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        for (name, (a, b)) in zip(["output", "grad value", "grad locations", "grad weights"], zip(fused, composite)) {
            #expect(maxAbsDifference(a, b) < 1e-12, "\(name) differs by \(maxAbsDifference(a, b))")
        }
        // Without a value gradient the kernel skips the value rows' accumulation; the other
        // gradients must not change.
        let withoutValueGradient = run(true, valueGradient: false)
        for (name, (a, b)) in zip(["grad locations", "grad weights"], zip(withoutValueGradient.dropFirst(), composite.dropFirst(2))) {
            #expect(maxAbsDifference(a, b) < 1e-12, "without a value gradient, \(name) differs by \(maxAbsDifference(a, b))")
        }
    }

    /// 45 channels run the kernels' loops of 8 lanes five times, then 5 single channels; with
    /// 3 channels only the single-channel loops run. A sample whose four neighbours all lie
    /// inside its level takes the four-row path, the others the per-neighbour path: locations
    /// from −0.2 to 1.2 give both.
    @Test(arguments: [false, true]) func fusedKernelMatchesTheCompositeOnRowsOfManyChannels(sharedValue: Bool) {
        let value = randomTensor([2, Self.tokens, sharedValue ? 1 : 2, 45], seed: 50)
        let (_, locations, weights) = inputs(seed: 51)
        let cotangent = randomTensor([2, 5, 90], seed: 52)
        func run(_ fused: Bool) -> [[Double]] {
            let (v, l, w) = (value.requiringGrad(), locations.requiringGrad(), weights.requiringGrad())
            let out = fused ? Tensor.deformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
                            : Tensor.compositeDeformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
            return [out.doubles()] + gradients(of: [out], wrt: [v, l, w], cotangents: [cotangent]).map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        for (name, (a, b)) in zip(["output", "grad value", "grad locations", "grad weights"], zip(fused, composite)) {
            #expect(maxAbsDifference(a, b) < 1e-12, "\(name) differs by \(maxAbsDifference(a, b))")
        }
    }

    /// A value shared by the heads is sampled like the same value copied to every head.
    @Test func sharedValueEqualsTheValueCopiedToEveryHead() {
        let shared = randomTensor([2, Self.tokens, 1, 3], seed: 40)
        let (_, locations, weights) = inputs(seed: 41)
        let copied = Tensor.concat([shared, shared], axis: 2)
        let a = Tensor.deformableSampling(value: shared, spatialShapes: Self.shapes, locations: locations, weights: weights)
        let b = Tensor.deformableSampling(value: copied, spatialShapes: Self.shapes, locations: locations, weights: weights)
        #expect(a.doubles() == b.doubles())
    }

    /// With `createGraph` the fused kernel's gradients are differentiable and their
    /// derivatives are the composite's: d/d(v, l, w) of Σ r · ∂⟨out, c⟩/∂(v, l, w).
    @Test func fusedKernelSecondDerivativesMatchTheComposite() {
        let (value, locations, weights) = inputs(seed: 3)
        let cotangent = randomTensor([2, 5, 6], seed: 10)
        let directions = [randomTensor(value.shape, seed: 11), randomTensor(locations.shape, seed: 12), randomTensor(weights.shape, seed: 13)]
        func run(_ fused: Bool) -> [[Double]] {
            let (v, l, w) = (value.requiringGrad(), locations.requiringGrad(), weights.requiringGrad())
            let out = fused ? Tensor.deformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
                            : Tensor.compositeDeformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
            let first = gradients(of: [out], wrt: [v, l, w], cotangents: [cotangent], createGraph: true)
            let projection = zip(first, directions).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0, dtype: .float64), +)
            return gradients(of: [projection], wrt: [v, l, w]).map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        #expect(composite[1].contains { $0 != 0 }, "the composite has non-zero second derivatives in the locations")
        for (name, (a, b)) in zip(["value", "locations", "weights"], zip(fused, composite)) {
            #expect(maxAbsDifference(a, b) < 1e-12, "second derivative in \(name) differs by \(maxAbsDifference(a, b))")
        }
    }

    @Test func fusedKernelGradcheck() {
        let (value, locations, weights) = inputs(seed: 20)
        let report = gradcheck({ Tensor.deformableSampling(value: $0[0], spatialShapes: Self.shapes, locations: $0[1], weights: $0[2]) },
                               inputs: [value, locations, weights])
        #expect(report.passed, "\(report)")
    }

    @Test func samplingAtAPixelCentreReadsThatPixel() {
        // One level 2×3; pixel (row 1, column 2) has centre (x, y) = ((2 + 0.5)/3, (1 + 0.5)/2).
        let value = Tensor((0..<6).map(Double.init), shape: [1, 6, 1, 1])
        let location = Tensor([2.5 / 3, 1.5 / 2], shape: [1, 1, 1, 1, 1, 2], dtype: .float64)
        let out = Tensor.deformableSampling(value: value, spatialShapes: [(2, 3)], locations: location, weights: Tensor.ones([1, 1, 1, 1, 1], dtype: .float64))
        #expect(Swift.abs(out.item() - 5) < 1e-12)
        // Halfway between columns 0 and 1 of row 0: (0 + 1)/2.
        let between = Tensor([1.0 / 3, 0.5 / 2], shape: [1, 1, 1, 1, 1, 2], dtype: .float64)
        #expect(Swift.abs(Tensor.deformableSampling(value: value, spatialShapes: [(2, 3)], locations: between,
                                                    weights: Tensor.ones([1, 1, 1, 1, 1], dtype: .float64)).item() - 0.5) < 1e-12)
    }

    @Test(arguments: [MultiScaleDeformableAttention.ProjectionOrder.projectThenSample, .sampleThenProject])
    func moduleGradcheckWithPointAndBoxReferences(order: MultiScaleDeformableAttention.ProjectionOrder) {
        for fused in [true, false] {
            let attention = MultiScaleDeformableAttention(dModel: 4, levels: 3, heads: 2, points: 2)
            (attention.fused, attention.projectionOrder) = (fused, order)
            attention.valueProj.bias!.value = Initialization.uniform([4], bound: 0.5)
            // Non-trivial offsets and attention, so the check exercises more than the initialization.
            attention.samplingOffsets.weight.value = Initialization.uniform(attention.samplingOffsets.weight.shape, bound: 0.5)
            attention.attentionWeights.weight.value = Initialization.uniform(attention.attentionWeights.weight.shape, bound: 0.5)
            let input = randomTensor([1, Self.tokens, 4], seed: 31)
            var mask = [Bool8](repeating: false, count: Self.tokens)
            mask[3] = true
            let padding = Tensor(mask, shape: [1, Self.tokens])
            let points = randomTensor([1, 3, 3, 2], seed: 32, low: 0.1, high: 0.9)
            let boxes = randomTensor([1, 3, 3, 4], seed: 33, low: 0.2, high: 0.6)
            for reference in [points, boxes] {
                expectModuleGradcheck(attention, input: randomTensor([1, 3, 4], seed: 30)) {
                    attention(query: $0, referencePoints: reference, input: input, spatialShapes: Self.shapes, paddingMask: padding)
                }
            }
        }
    }

    /// Sampling the input and projecting the sums equals projecting every token and
    /// sampling the projection (the original's order): outputs and every gradient, with a
    /// padding mask (whose tokens the original zeroes after the projection, bias included),
    /// point and box references, and a value bias that is not zero.
    @Test func bothProjectionOrdersGiveTheSameOutputAndGradients() {
        let attention = MultiScaleDeformableAttention(dModel: 8, levels: 3, heads: 2, points: 2)
        attention.samplingOffsets.weight.value = Initialization.uniform(attention.samplingOffsets.weight.shape, bound: 0.5)
        attention.attentionWeights.weight.value = Initialization.uniform(attention.attentionWeights.weight.shape, bound: 0.5)
        attention.valueProj.bias!.value = Initialization.uniform([8], bound: 0.5)
        attention.convert(to: .float64)
        let query = randomTensor([2, 4, 8], seed: 50), input = randomTensor([2, Self.tokens, 8], seed: 51)
        var mask = [Bool8](repeating: false, count: 2 * Self.tokens)
        for token in [3, 4, 17, Self.tokens + 18] { mask[token] = true }          // level 0, level 2's last token, image 1
        let padding = Tensor(mask, shape: [2, Self.tokens])
        let references = [randomTensor([2, 4, 3, 2], seed: 52, low: -0.1, high: 1.1), randomTensor([2, 4, 3, 4], seed: 53, low: 0.2, high: 0.7)]
        let cotangent = randomTensor([2, 4, 8], seed: 54)
        for fused in [true, false] {
            for reference in references {
                func run(_ order: MultiScaleDeformableAttention.ProjectionOrder) -> [[Double]] {
                    (attention.fused, attention.projectionOrder) = (fused, order)
                    let (q, x, r) = (query.requiringGrad(), input.requiringGrad(), reference.requiringGrad())
                    let out = attention(query: q, referencePoints: r, input: x, spatialShapes: Self.shapes, paddingMask: padding)
                    let grads = gradients(of: [out], wrt: [q, x, r] + attention.parameters.map(\.value), cotangents: [cotangent])
                    return [out.doubles()] + grads.map { $0.doubles() }
                }
                let (projectFirst, sampleFirst) = (run(.projectThenSample), run(.sampleThenProject))
                let names = ["output", "grad query", "grad input", "grad references"] + attention.namedParameters().map { "grad \($0.0)" }
                for (name, (a, b)) in zip(names, zip(projectFirst, sampleFirst)) {
                    #expect(maxAbsDifference(a, b) < 1e-12, "fused \(fused), \(reference.shape): \(name) differs by \(maxAbsDifference(a, b))")
                }
                #expect(projectFirst[2].contains { $0 != 0 } && projectFirst[6].contains { $0 != 0 }, "the input and W_v have gradients")
            }
        }
    }

    /// The automatic order by the multiply-add counts, by hand for the paper's layer (d 256,
    /// 8 heads, 4 levels, 4 points: 128 samples of 4 neighbours per query). Project first:
    /// S·256² + Lq·512·32; sample first: Lq·(512·256 + 256²) = Lq·196608.
    @Test func automaticOrderSamplesFirstOnlyWhenQueriesAreFewerThanTokens() {
        let attention = MultiScaleDeformableAttention(dModel: 256, levels: 4, heads: 8, points: 4)
        #expect(attention.samplesFirst(queries: 300, tokens: 8500))          // the decoder: 59 M against 562 M
        #expect(!attention.samplesFirst(queries: 8500, tokens: 8500))        // the encoder
        // Break-even: Lq·196608 < S·65536 + Lq·16384 ⇔ Lq·180224 < S·65536; for S 1100, Lq < 400.
        #expect(attention.samplesFirst(queries: 399, tokens: 1100))
        #expect(!attention.samplesFirst(queries: 400, tokens: 1100))
    }

    @Test func namesAndInitializationFollowTheOriginal() {
        let attention = MultiScaleDeformableAttention(dModel: 8, levels: 2, heads: 4, points: 2)
        #expect(attention.stateDict().map(\.0) == ["sampling_offsets.weight", "sampling_offsets.bias", "attention_weights.weight",
                                                   "attention_weights.bias", "value_proj.weight", "value_proj.bias",
                                                   "output_proj.weight", "output_proj.bias"])
        // Head m points along θ = 2πm/4 scaled so the larger component is 1, at distances 1 and 2.
        let bias = attention.samplingOffsets.bias!.value.doubles()
        #expect(bias[0..<8] == [1, 0, 2, 0, 1, 0, 2, 0])                    // head 0, levels 0 and 1
        #expect(maxAbsDifference(Array(bias[8..<12]), [0, 1, 0, 2]) < 1e-7)   // head 1: (cos 90°, sin 90°)
        #expect(attention.attentionWeights.weight.value.doubles().allSatisfy { $0 == 0 })
    }
}
