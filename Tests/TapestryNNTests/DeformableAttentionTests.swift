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
    /// 2¹⁵ above which they split (batch, head) pairs over threads.
    @Test(arguments: [5, 1200]) func fusedKernelMatchesTheCompositeForwardAndBackward(queries: Int) {
        let (value, locations, weights) = inputs(seed: 1, queries: queries)
        let cotangent = randomTensor([2, queries, 6], seed: 9)
        func run(_ fused: Bool) -> [[Double]] {
            let (v, l, w) = (value.requiringGrad(), locations.requiringGrad(), weights.requiringGrad())
            let out = fused ? Tensor.deformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
                            : Tensor.compositeDeformableSampling(value: v, spatialShapes: Self.shapes, locations: l, weights: w)
            let grads = gradients(of: [out], wrt: [v, l, w], cotangents: [cotangent])
            return [out.doubles()] + grads.map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        for (name, (a, b)) in zip(["output", "grad value", "grad locations", "grad weights"], zip(fused, composite)) {
            #expect(maxAbsDifference(a, b) < 1e-12, "\(name) differs by \(maxAbsDifference(a, b))")
        }
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

    @Test func moduleGradcheckWithPointAndBoxReferences() {
        for fused in [true, false] {
            let attention = MultiScaleDeformableAttention(dModel: 4, levels: 3, heads: 2, points: 2)
            attention.fused = fused
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
