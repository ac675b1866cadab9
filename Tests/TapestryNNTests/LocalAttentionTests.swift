import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

/// The fused SASA kernel against the composite `unfold` formulation, in Float64.
@Suite struct LocalAttentionKernel {
    /// q, k, v [2, 4, 5, 6] (2 heads of 2 channels), relative [2, 2, k²]; maps smaller than
    /// the window in one direction, so that whole rows of neighbours lie outside.
    func inputs(seed: UInt64, kernelSize: Int, shape: [Int] = [2, 4, 5, 6]) -> [Tensor] {
        [randomTensor(shape, seed: seed), randomTensor(shape, seed: seed + 1), randomTensor(shape, seed: seed + 2),
         randomTensor([2, shape[1] / 2, kernelSize * kernelSize], seed: seed + 3)]
    }

    /// Outputs and every gradient to 1e-12: k 3 and k 7 (wider than the 5-row map) on one
    /// thread, and a map large enough (2·2·48·48·49·2 > 2¹⁵) to split (batch, head) pairs over threads.
    @Test(arguments: [(3, [2, 4, 5, 6]), (7, [2, 4, 5, 6]), (7, [2, 4, 48, 48])])
    func fusedMatchesTheCompositeForwardAndBackward(kernelSize: Int, shape: [Int]) {
        let values = inputs(seed: 1, kernelSize: kernelSize, shape: shape)
        let cotangent = randomTensor(shape, seed: 9)
        func run(_ fused: Bool) -> [[Double]] {
            let x = values.map { $0.requiringGrad() }
            let out = fused ? Tensor.localAttention(query: x[0], key: x[1], value: x[2], relative: x[3], heads: 2, kernelSize: kernelSize)
                            : Tensor.compositeLocalAttention(query: x[0], key: x[1], value: x[2], relative: x[3], heads: 2, kernelSize: kernelSize)
            return [out.doubles()] + gradients(of: [out], wrt: x, cotangents: [cotangent]).map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        for (name, (a, b)) in zip(["output", "grad query", "grad key", "grad value", "grad relative"], zip(fused, composite)) {
            #expect(a.count == b.count && maxAbsDifference(a, b) < 1e-12, "\(name) differs by \(maxAbsDifference(a, b))")
        }
    }

    /// One pixel by hand: a 1×2 map, k 3, one head of 2 channels. Pixel (0, 0) sees itself
    /// and its right neighbour; the 7 other window positions are outside (key and value 0).
    @Test func onePixelByHand() {
        let q = Tensor([1.0, 0, 0, 2], shape: [1, 2, 1, 2])           // q(0,0) = (1, 0), q(0,1) = (0, 2)
        let k = Tensor([0.5, 1, 0, 0], shape: [1, 2, 1, 2])           // k(0,0) = (0.5, 0), k(0,1) = (1, 0)
        let v = Tensor([3.0, 5, 7, 11], shape: [1, 2, 1, 2])          // v(0,0) = (3, 7), v(0,1) = (5, 11)
        var table = [Double](repeating: 0, count: 18)
        table[4] = 1          // channel 0, window centre (a 1, b 1): +1 to the own pixel's logit via q₀
        let r = Tensor(table, shape: [1, 2, 9])
        let y = Tensor.localAttention(query: q, key: k, value: v, relative: r, heads: 1, kernelSize: 3).doubles()
        // Pixel (0,0): logits own = 1·(0.5 + 1) = 1.5, right (b 2) = 1·1 = 1, outside 0 (×7).
        let e = [Foundation.exp(1.5), Foundation.exp(1.0)], total = e[0] + e[1] + 7
        #expect(Swift.abs(y[0] - (e[0] * 3 + e[1] * 5) / total) < 1e-12)
        #expect(Swift.abs(y[2] - (e[0] * 7 + e[1] * 11) / total) < 1e-12)
    }

    @Test func gradcheckOfTheFusedKernel() {
        let report = gradcheck({ Tensor.localAttention(query: $0[0], key: $0[1], value: $0[2], relative: $0[3], heads: 2, kernelSize: 3) },
                               inputs: inputs(seed: 20, kernelSize: 3, shape: [1, 4, 3, 4]))
        #expect(report.passed, "\(report)")
    }

    /// With `createGraph` the gradients go through the composite, so second derivatives are its own.
    @Test func secondDerivativesMatchTheComposite() {
        let values = inputs(seed: 3, kernelSize: 3, shape: [1, 4, 3, 4])
        let cotangent = randomTensor([1, 4, 3, 4], seed: 10)
        let directions = values.enumerated().map { randomTensor($1.shape, seed: 30 + UInt64($0)) }
        func run(_ fused: Bool) -> [[Double]] {
            let x = values.map { $0.requiringGrad() }
            let out = fused ? Tensor.localAttention(query: x[0], key: x[1], value: x[2], relative: x[3], heads: 2, kernelSize: 3)
                            : Tensor.compositeLocalAttention(query: x[0], key: x[1], value: x[2], relative: x[3], heads: 2, kernelSize: 3)
            let first = gradients(of: [out], wrt: x, cotangents: [cotangent], createGraph: true)
            let projection = zip(first, directions).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0, dtype: .float64), +)
            return gradients(of: [projection], wrt: x).map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        #expect(composite[0].contains { $0 != 0 })
        for (a, b) in zip(fused, composite) { #expect(maxAbsDifference(a, b) < 1e-12) }
    }

    /// The layer gives the same output and parameter gradients fused or composite.
    @Test func layerFusedAndCompositeAgree() {
        let layer = LocalSelfAttention(inChannels: 3, outChannels: 8, kernelSize: 5, heads: 2)
        layer.convert(to: .float64)
        let x = randomTensor([2, 3, 6, 7], seed: 40)
        func run(_ fused: Bool) -> [[Double]] {
            layer.fused = fused
            let out = layer(x)
            return [out.doubles()] + gradients(of: [(out * out).sum()], wrt: layer.parameters.map(\.value)).map { $0.doubles() }
        }
        let (fused, composite) = (run(true), run(false))
        for (a, b) in zip(fused, composite) { #expect(a.count == b.count && maxAbsDifference(a, b) < 1e-10) }
    }
}
