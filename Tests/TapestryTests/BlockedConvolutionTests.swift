import Testing
@testable import Tapestry

/// The channel-blocked convolution (BlockedConvolution.swift) against the composite (unfold
/// + matmul, differentiated by the tape), in Float64 and Float32. The layers reach each edge
/// of the kernel: channels and output channels not multiples of the blocks (8 and 16 in
/// Float64, 16 and 32 in Float32), more than one input block, row widths not a multiple of
/// the 8-pixel block, a non-square kernel with different paddings along the two axes, an
/// even kernel without padding, and a batch large enough to be split over threads.
@Suite struct BlockedConvolutionMatchesTheComposite {
    struct Layer: CustomTestStringConvertible, Sendable {
        let input: [Int], weight: [Int], padding: (Int, Int)
        var testDescription: String { "x \(input) w \(weight) p \(padding)" }
        var layout: BlockedConvolution {
            BlockedConvolution(batch: input[0], channels: input[1], height: input[2], width: input[3], outChannels: weight[0],
                               kernel: (weight[2], weight[3]), padding: padding)
        }
    }

    static let layers = [
        Layer(input: [2, 5, 9, 13], weight: [7, 5, 3, 3], padding: (1, 1)),
        Layer(input: [2, 40, 8, 8], weight: [36, 40, 3, 3], padding: (1, 1)),
        Layer(input: [1, 4, 12, 10], weight: [6, 4, 5, 3], padding: (2, 0)),
        Layer(input: [3, 4, 9, 9], weight: [5, 4, 2, 2], padding: (0, 0)),
        Layer(input: [8, 32, 16, 16], weight: [64, 32, 3, 3], padding: (1, 1)),
    ]

    @Test(arguments: layers, [DType.float64, .float32])
    func outputAndInputGradient(layer: Layer, dtype: DType) {
        let x = randomTensor(layer.input, seed: 21, dtype: dtype), w = randomTensor(layer.weight, seed: 22, dtype: dtype)
        // The composite in Float64, from the same values.
        let x64 = x.cast(to: .float64).requiringGrad()
        let expected = x64.compositeConv2d(weight: w.cast(to: .float64), padding: layer.padding)
        let y = Tensor(uninitializedShape: expected.shape, dtype: dtype)
        let cotangent = randomTensor(expected.shape, seed: 23, dtype: dtype)
        let dx = Tensor(uninitializedShape: x.shape, dtype: dtype)
        // The input gradient is the convolution of the output gradient, padded by k − 1 − p.
        let gradientLayout = BlockedConvolution(batch: layer.input[0], channels: layer.weight[0], height: expected.shape[2],
                                                width: expected.shape[3], outChannels: layer.input[1],
                                                kernel: (layer.weight[2], layer.weight[3]),
                                                padding: (layer.weight[2] - 1 - layer.padding.0, layer.weight[3] - 1 - layer.padding.1))
        if dtype == .float64 {
            layer.layout.forward(x: x.pointer(Double.self), w: w.pointer(Double.self), y: y.pointer(Double.self))
            gradientLayout.inputGradient(dy: cotangent.pointer(Double.self), w: w.pointer(Double.self), dx: dx.pointer(Double.self))
        } else {
            layer.layout.forward(x: x.pointer(Float.self), w: w.pointer(Float.self), y: y.pointer(Float.self))
            gradientLayout.inputGradient(dy: cotangent.pointer(Float.self), w: w.pointer(Float.self), dx: dx.pointer(Float.self))
        }
        let composite = gradients(of: [expected], wrt: [x64], cotangents: [cotangent.cast(to: .float64)])[0]
        // Float32: rounding of sums of up to 576 products of values in [-1, 1] (sums of
        // magnitude about 24, where one ulp is 2e-6); a wrong tap or channel is off by about 1.
        let tolerance = dtype == .float64 ? 1e-12 : 5e-5
        #expect(maxAbsDifference(y.doubles(), expected.doubles()) < tolerance, "output")
        #expect(maxAbsDifference(dx.doubles(), composite.doubles()) < tolerance, "input gradient")
    }
}

/// `conv2d` on a layer the blocked path takes: output, input gradient (blocked) and weight
/// gradient (im2col's) against the composite, in Float64.
@Test func conv2dOnTheBlockedPathMatchesTheComposite() {
    let x = randomTensor([4, 20, 8, 8], seed: 31).requiringGrad()
    let w = randomTensor([24, 20, 3, 3], seed: 32).requiringGrad()
    let geometry = PatchGeometry(batch: 4, channels: 20, height: 8, width: 8, kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1))
    #expect(ConvolutionLayout(g: geometry, groups: 1, outChannels: 24).path == .blocked, "the layer must take the blocked path")
    let y = x.conv2d(weight: w, padding: (1, 1))
    let expected = x.compositeConv2d(weight: w, padding: (1, 1))
    #expect(maxAbsDifference(y.doubles(), expected.doubles()) < 1e-12, "output")
    let cotangent = randomTensor(y.shape, seed: 33)
    let blocked = gradients(of: [y], wrt: [x, w], cotangents: [cotangent])
    let composite = gradients(of: [expected], wrt: [x, w], cotangents: [cotangent])
    for (i, name) in ["input", "weight"].enumerated() {
        #expect(maxAbsDifference(blocked[i].doubles(), composite[i].doubles()) < 1e-12, "\(name) gradient")
    }
}
