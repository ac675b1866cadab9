import Foundation
import Tapestry

/// A decoder's cross-attention as a picture: the weights of each query over the cells of
/// the feature map it attends to, averaged over heads, laid over the image they came from.
public struct CrossAttentionMap {
    /// The feature map's cells and its stride in input pixels.
    public let grid: FeatureMapGrid
    /// [Q][cells] weights averaged over heads (each row sums to 1 over the unpadded cells).
    public let weights: [[Double]]
    /// [Q][H][cells] per-head logit priors (SMCA's log-Gaussian maps), when the layer had them.
    public let priors: [[[Double]]]?

    /// `weights` [1, H, Q, S] of one image whose network input was `inputSize` pixels: the
    /// S keys are the ⌈h/s⌉×⌈w/s⌉ cells of the first stride s in 32, 16, 8, 64 that fits.
    public init(weights: Tensor, priors bias: Tensor? = nil, inputSize: (height: Int, width: Int)) throws(CrossAttentionMapError) {
        guard weights.rank == 4, weights.shape[0] == 1 else { throw .notOneImage(weights.shape) }
        let keys = weights.shape[3]
        guard let grid = [32, 16, 8, 64].map({ FeatureMapGrid(inputSize: inputSize, stride: $0) }).first(where: { $0.height * $0.width == keys }) else {
            throw .noFeatureMap(keys: keys, inputSize: inputSize)
        }
        self.grid = grid
        let averaged = weights.mean(axis: 1).cast(to: .float64).doubles()        // [1, Q, S]
        let (heads, queries) = (weights.shape[1], weights.shape[2])
        self.weights = (0..<queries).map { Array(averaged[($0 * keys)..<(($0 + 1) * keys)]) }
        priors = bias.map { bias in
            let full = bias.reshaped(Array(repeating: 1, count: Swift.max(0, 4 - bias.rank)) + bias.shape).expanded(to: [1, heads, queries, keys]).cast(to: .float64).contiguous().doubles()
            return (0..<queries).map { q in (0..<heads).map { h in Array(full[((h * queries + q) * keys)..<((h * queries + q + 1) * keys)]) } }
        }
    }

    /// `image` with each head's prior for query `query` outlined in the head's colour: the
    /// cells within half of the head's peak (a log-prior within ln 2 of its maximum).
    public func priorOutlines(query: Int, on image: RGBImage) -> RGBImage {
        guard let priors else { return image }
        var out = image
        for (head, prior) in priors[query].enumerated() {
            let peak = prior.max() ?? 0
            let colour = Drawing.colour(forClass: head)
            func inside(_ x: Int, _ y: Int) -> Bool {
                guard x >= 0, y >= 0, x < image.width, y < image.height else { return false }
                return prior[grid.cellIndex(x: x, y: y, of: image)] >= peak - log(2.0)
            }
            for y in 0..<image.height {
                for x in 0..<image.width where inside(x, y) && !(inside(x - 2, y) && inside(x + 2, y) && inside(x, y - 2) && inside(x, y + 2)) {
                    let i = (y * image.width + x) * 3
                    (out.pixels[i], out.pixels[i + 1], out.pixels[i + 2]) = colour
                }
            }
        }
        return out
    }

    /// `image` (any size: the input was resized from it) with query `query`'s map over it
    /// (`FeatureMapGrid.overlay`).
    public func overlay(query: Int, on image: RGBImage) -> RGBImage { grid.overlay(weights[query], on: image) }
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
