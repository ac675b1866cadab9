import Testing
@testable import Tapestry

/// The strided convolution's forward pass, whose patches are unfolded a micro-panel at a time
/// (PatchPanels.swift), against the definition summed in Float64. The layers reach each edge
/// of the unfolding and of the kernel: output channels not a multiple of the micro-kernel's
/// 6 rows (the zero-padded last weight panel), output positions not a multiple of its 64
/// columns, runs crossing from one image to the next inside a tile, more than one block of
/// 128 patch rows (the accumulation over blocks), windows over the top, bottom, left and
/// right padding, different strides, paddings and dilations along the two axes, a 1×1
/// strided layer, ResNet's 7×7 stem on a batch large enough to be split over threads, and
/// Float32 (the 16-lane kernel) beside Float64 (the 8-lane one).
@Suite struct StridedConvolutionMatchesItsDefinition {
    struct Layer: CustomTestStringConvertible, Sendable {
        let input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
        var testDescription: String { "x \(input) w \(weight) s \(stride) p \(padding) d \(dilation)" }
    }

    static let layers = [
        Layer(input: [3, 5, 11, 9], weight: [7, 5, 3, 3], stride: (2, 2), padding: (1, 1), dilation: (1, 1)),
        Layer(input: [2, 20, 10, 13], weight: [13, 20, 3, 2], stride: (2, 3), padding: (2, 1), dilation: (2, 1)),
        Layer(input: [4, 6, 9, 9], weight: [6, 6, 1, 1], stride: (2, 2), padding: (0, 0), dilation: (1, 1)),
        Layer(input: [1, 3, 5, 40], weight: [8, 3, 2, 5], stride: (1, 2), padding: (0, 3), dilation: (1, 2)),
        Layer(input: [4, 3, 32, 30], weight: [16, 3, 7, 7], stride: (2, 2), padding: (3, 3), dilation: (1, 1)),
    ]

    @Test(arguments: layers)
    func forwardPass(layer: Layer) {
        let geometry = PatchGeometry(batch: layer.input[0], channels: layer.input[1], height: layer.input[2], width: layer.input[3],
                                     kernel: (layer.weight[2], layer.weight[3]), stride: layer.stride, padding: layer.padding,
                                     dilation: layer.dilation)
        #expect(ConvolutionLayout(g: geometry, groups: 1, outChannels: layer.weight[0]).unfoldsInPanels, "the layer must unfold in panels")
        let x = randomTensor(layer.input, seed: 21), w = randomTensor(layer.weight, seed: 22)
        let expected = directConvolution(x, w, stride: layer.stride, padding: layer.padding, dilation: layer.dilation)
        let y = x.conv2d(weight: w, stride: layer.stride, padding: layer.padding, dilation: layer.dilation)
        #expect(y.shape == [layer.input[0], layer.weight[0], geometry.outHeight, geometry.outWidth])
        #expect(maxAbsDifference(y.doubles(), expected) < 1e-12, "Float64")
        // Float32: the inputs are exact in Float32 only after the cast, so the definition is
        // summed again from the cast values; the error is Float32 rounding over ≤ 147 terms of size ≤ 1.
        let (x32, w32) = (x.cast(to: .float32), w.cast(to: .float32))
        let expected32 = directConvolution(x32.cast(to: .float64), w32.cast(to: .float64), stride: layer.stride,
                                           padding: layer.padding, dilation: layer.dilation)
        let y32 = x32.conv2d(weight: w32, stride: layer.stride, padding: layer.padding, dilation: layer.dilation)
        #expect(maxAbsDifference(y32.doubles(), expected32) < 1e-4, "Float32")
    }

    /// Stride-1 and grouped layers stay on their paths (direct, or im2col + gemm).
    @Test func layersThatDoNotUnfoldInPanels() {
        func layout(stride: (Int, Int), groups: Int = 1) -> ConvolutionLayout {
            ConvolutionLayout(g: PatchGeometry(batch: 2, channels: 4, height: 8, width: 8, kernel: (3, 3), stride: stride,
                                               padding: (1, 1), dilation: (1, 1)), groups: groups, outChannels: 4)
        }
        #expect(layout(stride: (2, 1)).unfoldsInPanels)
        #expect(!layout(stride: (1, 1)).unfoldsInPanels)
        #expect(!layout(stride: (2, 2), groups: 2).unfoldsInPanels)
    }
}
