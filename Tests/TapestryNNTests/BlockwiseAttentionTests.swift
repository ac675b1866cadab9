import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

/// The lean (blockwise) attention against the plain one, in Float64.
@Suite struct BlockwiseAttention {
    /// q [2, 3, 7, 4], k [2, 3, 5, 4], v [2, 3, 5, 6]: L 7 rows, which blocks of 3 rows split
    /// unevenly (3 + 3 + 1).
    func inputs(seed: UInt64) -> [Tensor] {
        [randomTensor([2, 3, 7, 4], seed: seed), randomTensor([2, 3, 5, 4], seed: seed + 1), randomTensor([2, 3, 5, 6], seed: seed + 2)]
    }

    /// Every form of bias a layer passes: none; SMCA's per-head map [B, H, L, S] (which
    /// needs its own gradient); a key padding mask [B, 1, 1, S] with −∞ on padded keys; an
    /// attention mask [L, S]; a map shared by batch and rows [H, 1, S] (its gradient sums
    /// over blocks).
    static let biases: [(String, [Int]?, Bool)] = [
        ("none", nil, false), ("per head", [2, 3, 7, 5], true), ("key padding", [2, 1, 1, 5], false),
        ("attention mask", [7, 5], false), ("shared over rows", [3, 1, 5], true),
    ]

    func bias(_ shape: [Int]?, seed: UInt64) -> Tensor? {
        guard let shape else { return nil }
        if shape == [2, 1, 1, 5] {
            // Image 0 pads its last two keys, image 1 none.
            return Tensor([0, 0, 0, -Double.infinity, -Double.infinity, 0, 0, 0, 0, 0], shape: shape)
        }
        return randomTensor(shape, seed: seed, low: -2, high: 2)
    }

    /// Outputs and the gradients of q, k, v and (when it needs one) the bias to 1e-12, with
    /// and without dropout, blocks of 3 rows.
    @Test(arguments: biases.indices, [false, true])
    func blockwiseMatchesPlainForwardAndBackward(biasCase: Int, withDropout: Bool) {
        let (name, shape, tracked) = Self.biases[biasCase]
        let values = inputs(seed: 1) + (bias(shape, seed: 4).map { [$0] } ?? [])
        let cotangent = randomTensor([2, 3, 7, 6], seed: 9)
        let dropout = withDropout ? AttentionDropout(p: 0.3, stream: RandomGenerator(seed: 77)) : nil
        func run(_ lean: Bool) -> [[Double]] {
            let x = values.enumerated().map { $0 < 3 || tracked ? $1.requiringGrad() : $1 }
            let b = x.count > 3 ? x[3] : nil
            let out = lean ? Tensor.blockwiseAttention(query: x[0], key: x[1], value: x[2], bias: b, scale: 0.7, dropout: dropout, blockElements: 2 * 3 * 3 * 5)
                           : Tensor.plainAttention(query: x[0], key: x[1], value: x[2], bias: b, scale: 0.7, dropout: dropout).output
            let wrt = tracked ? x : Array(x.prefix(3))
            return [out.doubles()] + gradients(of: [out], wrt: wrt, cotangents: [cotangent]).map { $0.doubles() }
        }
        let (lean, plain) = (run(true), run(false))
        #expect(lean.count == (tracked ? 5 : 4))
        for (part, (a, b)) in zip(["output", "grad q", "grad k", "grad v", "grad bias"], zip(lean, plain)) {
            #expect(a.count == b.count && a.allSatisfy(\.isFinite) && maxAbsDifference(a, b) < 1e-12,
                    "\(name), dropout \(withDropout): \(part) differs by \(maxAbsDifference(a, b))")
        }
    }

    /// One query, two keys, by hand: weights softmax(0.5·(1, 3)) = (1, e)/(1 + e) over values 2 and 10.
    @Test func oneQueryByHand() {
        let q = Tensor([1.0], shape: [1, 1, 1, 1]), k = Tensor([1.0, 3], shape: [1, 1, 2, 1]), v = Tensor([2.0, 10], shape: [1, 1, 2, 1])
        let y = Tensor.blockwiseAttention(query: q, key: k, value: v, scale: 0.5).doubles()
        let e = Foundation.exp(1.0)
        #expect(Swift.abs(y[0] - (2 + 10 * e) / (1 + e)) < 1e-14)
    }

    /// The lean path's dropout is the `Dropout` layer's: the same draws from the same
    /// generator, applied to the weights as the layer applies them (written out here).
    @Test func dropoutDrawsTheLayersMask() {
        let x = inputs(seed: 11)
        let layer = Dropout(0.4, seed: 123), reference = Dropout(0.4, seed: 123)
        let lean = AttentionPath.$preferred.withValue(.lean) {
            scaledDotProductAttention(query: x[0], key: x[1], value: x[2], dropout: layer, needWeights: false)
        }
        let weights = (x[0] * 0.5).matmul(x[1].transposed()).softmax(axis: -1)
        let expected = reference(weights).matmul(x[2])
        #expect(lean.weights == nil)
        #expect(maxAbsDifference(lean.output.doubles(), expected.doubles()) < 1e-12)
        // Both generators moved past one [2, 3, 7, 5] mask: the next masks agree too.
        #expect(layer.reserveMask(count: 1) == reference.reserveMask(count: 1))
        // In evaluation mode nothing is dropped.
        layer.eval()
        let evaluated = AttentionPath.$preferred.withValue(.lean) {
            scaledDotProductAttention(query: x[0], key: x[1], value: x[2], dropout: layer, needWeights: false)
        }
        #expect(maxAbsDifference(evaluated.output.doubles(), weights.matmul(x[2]).doubles()) < 1e-12)
    }

    @Test func gradcheckOfTheBlockwiseKernel() {
        let values = inputs(seed: 20) + [randomTensor([2, 3, 7, 5], seed: 23)]
        let report = gradcheck({ Tensor.blockwiseAttention(query: $0[0], key: $0[1], value: $0[2], bias: $0[3], scale: 0.6, blockElements: 2 * 3 * 2 * 5) },
                               inputs: values)
        #expect(report.passed && report.checkedValues > 0, "\(report)")
    }

    /// With `createGraph` the gradients go through the plain path, so second derivatives are its own.
    @Test func secondDerivativesMatchThePlainPath() {
        let values = inputs(seed: 3) + [randomTensor([2, 3, 7, 5], seed: 6)]
        let cotangent = randomTensor([2, 3, 7, 6], seed: 10)
        let directions = values.enumerated().map { randomTensor($1.shape, seed: 30 + UInt64($0)) }
        func run(_ lean: Bool) -> [[Double]] {
            let x = values.map { $0.requiringGrad() }
            let out = lean ? Tensor.blockwiseAttention(query: x[0], key: x[1], value: x[2], bias: x[3], scale: 0.5, blockElements: 30)
                           : Tensor.plainAttention(query: x[0], key: x[1], value: x[2], bias: x[3], scale: 0.5).output
            let first = gradients(of: [out], wrt: x, cotangents: [cotangent], createGraph: true)
            let projection = zip(first, directions).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0, dtype: .float64), +)
            return gradients(of: [projection], wrt: x).map { $0.doubles() }
        }
        let (lean, plain) = (run(true), run(false))
        #expect(plain[0].contains { $0 != 0 })
        for (a, b) in zip(lean, plain) { #expect(maxAbsDifference(a, b) < 1e-12) }
    }

    /// MultiheadAttention on the lean path gives the plain path's output and parameter
    /// gradients; without weights it takes the lean path by default from 2·8·2048² logits on,
    /// the plain one at 2·8·1024².
    @Test func multiheadAttentionOnBothPaths() {
        let attention = MultiheadAttention(embedDim: 32, heads: 8)
        attention.convert(to: .float64)
        let x = randomTensor([1024, 2, 32], seed: 50)
        func run(_ path: AttentionPath) -> (Tensor?, [[Double]]) {
            for p in attention.parameters { p.value.zeroGrad() }
            let (out, weights) = AttentionPath.$preferred.withValue(path) { attention(query: x, key: x, value: x, needWeights: false) }
            (out * out).sum().backward()
            return (weights, [out.doubles()] + attention.parameters.map { $0.grad!.doubles() })
        }
        let (leanWeights, lean) = run(.lean), (plainWeights, plain) = run(.plain)
        #expect(leanWeights == nil && plainWeights == nil)
        for (a, b) in zip(lean, plain) {
            let scale = b.map(Swift.abs).max()!
            #expect(maxAbsDifference(a, b) <= 1e-12 * scale, "differs by \(maxAbsDifference(a, b)) at scale \(scale)")
        }
        #expect(AttentionPath.automatic.takesLean(matrix: 2 * 8 * 2048 * 2048))
        #expect(!AttentionPath.automatic.takesLean(matrix: 2 * 8 * 1024 * 1024))
        // Weights asked for come from the plain path whatever the preference.
        let asked = AttentionPath.$preferred.withValue(.lean) { attention(query: x, key: x, value: x) }
        #expect(asked.weights?.shape == [2, 1024, 1024])
    }
}
