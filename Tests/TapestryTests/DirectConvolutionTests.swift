import Testing
@testable import Tapestry

/// The direct convolution (Conv2d+Direct.swift) against the composite (unfold + matmul,
/// differentiated by the tape), in Float64: outputs and both gradients. The layers are
/// chosen to reach each edge of the kernel: output channels not a multiple of the
/// micro-kernel's 6 rows, spans not a multiple of its 64 columns, more than one block of
/// 128 taps in the forward (32·9) and in the input gradient (40·9), spans of more than one
/// chunk of the weight gradient (2048 positions: the 5×3 layer and the last), a non-square
/// kernel with different paddings along the two axes, an even kernel without padding, and a
/// batch large enough to be split over threads.
@Suite struct DirectConvolutionMatchesTheComposite {
    struct Layer: CustomTestStringConvertible, Sendable {
        let input: [Int], weight: [Int], padding: (Int, Int)
        var testDescription: String { "x \(input) w \(weight) p \(padding)" }
    }

    static let layers = [
        Layer(input: [2, 5, 27, 25], weight: [7, 5, 3, 3], padding: (1, 1)),
        Layer(input: [2, 32, 26, 27], weight: [13, 32, 3, 3], padding: (1, 1)),
        Layer(input: [2, 3, 28, 30], weight: [40, 3, 3, 3], padding: (1, 1)),
        Layer(input: [1, 4, 60, 40], weight: [6, 4, 5, 3], padding: (2, 0)),
        Layer(input: [3, 4, 20, 20], weight: [5, 4, 2, 2], padding: (0, 0)),
        Layer(input: [4, 16, 30, 31], weight: [12, 16, 3, 3], padding: (1, 1)),
    ]

    @Test(arguments: layers)
    func outputsAndGradients(layer: Layer) {
        let x = randomTensor(layer.input, seed: 11).requiringGrad()
        let w = randomTensor(layer.weight, seed: 12).requiringGrad()
        let b = randomTensor([layer.weight[0]], seed: 13).requiringGrad()
        let geometry = PatchGeometry(batch: layer.input[0], channels: layer.input[1], height: layer.input[2], width: layer.input[3],
                                     kernel: (layer.weight[2], layer.weight[3]), stride: (1, 1), padding: layer.padding, dilation: (1, 1))
        #expect(ConvolutionLayout(g: geometry, groups: 1, outChannels: layer.weight[0]).path == .direct, "the layer must take the direct path")

        let y = x.conv2d(weight: w, bias: b, padding: layer.padding)
        let expected = x.compositeConv2d(weight: w, padding: layer.padding) + b.reshaped([layer.weight[0], 1, 1])
        #expect(y.shape == expected.shape)
        #expect(maxAbsDifference(y.doubles(), expected.doubles()) < 1e-12, "output")
        let cotangent = randomTensor(y.shape, seed: 14)
        let direct = gradients(of: [y], wrt: [x, w, b], cotangents: [cotangent])
        let composite = gradients(of: [expected], wrt: [x, w, b], cotangents: [cotangent])
        for (i, name) in ["input", "weight", "bias"].enumerated() {
            #expect(maxAbsDifference(direct[i].doubles(), composite[i].doubles()) < 1e-12, "\(name) gradient")
        }
    }

    /// Large maps go to the direct path; maps with more padding to the blocked one, unless
    /// the batch has too few pixels; strided, dilated, grouped and 1×1 layers to im2col.
    @Test func pathOfEachLayer() {
        func path(_ size: Int, batch: Int = 2, kernel: Int = 3, stride: Int = 1, dilation: Int = 1, groups: Int = 1) -> ConvolutionLayout.Path {
            ConvolutionLayout(g: PatchGeometry(batch: batch, channels: 4, height: size, width: size, kernel: (kernel, kernel),
                                               stride: (stride, stride), padding: (1, 1), dilation: (dilation, dilation)),
                              groups: groups, outChannels: 4).path
        }
        #expect(path(28) == .direct)  // 784 output pixels in a 29 × 29 plane (93%)
        #expect(path(32, batch: 1) == .direct)  // 1024 output pixels, 94% of the plane
        #expect(path(30, batch: 1) == .blocked)  // 900 output pixels in all
        #expect(path(16, batch: 8) == .blocked)  // 256 output pixels in a 17 × 17 plane (89%)
        #expect(path(8, batch: 32) == .blocked)  // 64 output pixels in a 9 × 9 plane (79%)
        #expect(path(8, batch: 4) == .blocked)  // 256 output pixels in all
        #expect(path(8, batch: 3) == .im2col)  // 192 output pixels in all
        #expect(path(28, stride: 2) == .im2col)
        #expect(path(28, dilation: 2) == .im2col)
        #expect(path(28, groups: 2) == .im2col)
        #expect(path(28, kernel: 1) == .im2col)
    }

    /// Every (tile, panel) cell of the work grid belongs to exactly one item, whether the grid
    /// is cut along tiles (many tiles), along panels too (few tiles), or is a single cell.
    @Test(arguments: [(421, 11), (3, 86), (9, 11), (1, 1), (17, 2)])
    func workGridCoversEveryCellOnce(tiles: Int, panels: Int) {
        let grid = WorkGrid(tiles: tiles, panels: panels)
        var seen = [Int](repeating: 0, count: tiles * panels)
        for item in 0..<grid.items {
            let (tileRange, panelRange) = grid.ranges(item)
            for tile in tileRange { for panel in panelRange { seen[tile * panels + panel] += 1 } }
        }
        #expect(seen.allSatisfy { $0 == 1 }, "cells covered \(Set(seen)) times")
        #expect(grid.items >= min(tiles * panels, 2), "a grid of \(tiles) × \(panels) cells in \(grid.items) items")
    }
}
