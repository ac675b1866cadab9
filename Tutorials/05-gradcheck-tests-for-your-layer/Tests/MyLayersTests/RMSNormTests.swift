import Foundation
import Testing
import Tapestry
import TapestryNN
import MyLayers

/// Three ways to be sure of a layer, each able to fail for a different bug.
@Suite struct RMSNormTests {
    /// The backward pass against central differences, in Float64, with respect to the input
    /// and the weight. Fails when a derivative is wrong (a forgotten term of the chain rule).
    @Test func gradientsMatchCentralDifferences() {
        var generator = RandomGenerator(seed: 1)
        let layer = RMSNorm(8)
        layer.weight.value = Tensor.uniform([8], low: 0.5, high: 1.5, dtype: .float64, generator: &generator)
        let input = Tensor.normal([2, 3, 8], dtype: .float64, generator: &generator)
        let report = gradcheck(layer, inputs: [input]) { layer($0[0]) }
        #expect(report.passed, "\(report)")
    }

    /// The forward pass by hand: x = (3, 4), weight (1, 2), ε 0: mean(x²) = 12.5, so
    /// y = (3, 8)/√12.5. Fails when the formula is wrong (a sum for the mean, a missing √),
    /// which a gradient check cannot see.
    @Test func oneVectorByHand() {
        let layer = RMSNorm(2, eps: 0)
        layer.convert(to: .float64)
        layer.weight.value = Tensor([1.0, 2.0])
        let output = layer(Tensor([3.0, 4.0], shape: [1, 2])).doubles()
        let expected = [3 / 12.5.squareRoot(), 8 / 12.5.squareRoot()]
        #expect(zip(output, expected).allSatisfy { Swift.abs($0 - $1) < 1e-15 }, "\(output) against \(expected)")
    }

    /// Output and gradients against `torch.nn.RMSNorm`, recorded by record_reference.py.
    /// Fails when the layer differs from PyTorch's (ε inside or outside the root, the
    /// axis of the mean), which neither test above would notice.
    @Test func matchesTorchRMSNorm() throws {
        let url = try #require(Bundle.module.url(forResource: "rmsnorm-reference", withExtension: "safetensors"))
        let reference = try SafetensorsFile.read(url.path)
        func recorded(_ name: String) throws -> Tensor { try #require(reference[name], "\(name) is in the reference file") }

        let layer = RMSNorm(8)
        layer.convert(to: .float64)
        layer.weight.value = try recorded("weight")
        let input = try recorded("input").requiringGrad()
        let output = layer(input)
        output.backward(try recorded("cotangent"))

        let inputGradient = try #require(input.grad), weightGradient = try #require(layer.weight.grad)
        for (name, ours) in [("output", output), ("input.grad", inputGradient), ("weight.grad", weightGradient)] {
            let theirs = try recorded(name)
            #expect(ours.shape == theirs.shape)
            let difference = zip(ours.doubles(), theirs.doubles()).map { Swift.abs($0 - $1) }.max() ?? .infinity
            #expect(difference < 1e-12, "\(name) differs from PyTorch's by \(difference)")
        }
    }
}
