import Foundation
import Tapestry

/// A decoder's cross-attention as a picture: the weights of each query over the cells of
/// the feature map it attends to, averaged over heads, laid over the image they came from.
public struct CrossAttentionMap {
    /// The feature map's cells (rows, columns) and its stride in input pixels.
    public let grid: (height: Int, width: Int)
    public let stride: Int
    /// [Q][cells] weights averaged over heads (each row sums to 1 over the unpadded cells).
    public let weights: [[Double]]
    let inputSize: (height: Int, width: Int)

    /// `weights` [1, H, Q, S] of one image whose network input was `inputSize` pixels: the
    /// S keys are the ⌈h/s⌉×⌈w/s⌉ cells of the first stride s in 32, 16, 8, 64 that fits.
    public init(weights: Tensor, inputSize: (height: Int, width: Int)) throws(CrossAttentionMapError) {
        guard weights.rank == 4, weights.shape[0] == 1 else { throw .notOneImage(weights.shape) }
        let keys = weights.shape[3]
        func cells(_ s: Int) -> (Int, Int) { ((inputSize.height + s - 1) / s, (inputSize.width + s - 1) / s) }
        guard let stride = [32, 16, 8, 64].first(where: { cells($0).0 * cells($0).1 == keys }) else {
            throw .noFeatureMap(keys: keys, inputSize: inputSize)
        }
        (self.stride, grid, self.inputSize) = (stride, cells(stride), inputSize)
        let averaged = weights.mean(axis: 1).cast(to: .float64).doubles()        // [1, Q, S]
        self.weights = (0..<weights.shape[2]).map { Array(averaged[($0 * keys)..<(($0 + 1) * keys)]) }
    }

    /// `image` (any size: the input was resized from it) with query `query`'s map over it:
    /// each pixel tinted by its cell's weight relative to the map's largest, on a
    /// black–red–yellow–white ramp, half and half with the image.
    public func overlay(query: Int, on image: RGBImage) -> RGBImage {
        let row = weights[query], peak = Swift.max(row.max() ?? 0, .leastNonzeroMagnitude)
        var out = image
        for y in 0..<image.height {
            let cellY = Swift.min(grid.height - 1, y * inputSize.height / image.height / stride)
            for x in 0..<image.width {
                let cellX = Swift.min(grid.width - 1, x * inputSize.width / image.width / stride)
                let t = row[cellY * grid.width + cellX] / peak
                let ramp = [Swift.min(1, 3 * t), Swift.min(1, Swift.max(0, 3 * t - 1)), Swift.min(1, Swift.max(0, 3 * t - 2))]
                let i = (y * image.width + x) * 3
                for c in 0..<3 { out.pixels[i + c] = UInt8((Double(image.pixels[i + c]) * 0.5 + ramp[c] * 255 * 0.5).rounded()) }
            }
        }
        return out
    }
}

public enum CrossAttentionMapError: Error, CustomStringConvertible {
    case notOneImage([Int])
    case noFeatureMap(keys: Int, inputSize: (height: Int, width: Int))

    public var description: String {
        switch self {
        case .notOneImage(let shape): return "attention weights \(shape) are not [1, heads, queries, keys] of one image"
        case let .noFeatureMap(keys, size): return "the attention's \(keys) keys are not the cells of a feature map of the \(size.height)×\(size.width) input at stride 8, 16, 32 or 64"
        }
    }
}
