import Foundation
import Tapestry

/// A deformable cross-attention call as a picture (the sampling-point figures of Zhu et
/// al., "Deformable DETR", ICLR 2021): for one query, every head's sampling points on every
/// feature level, where they fall on the image, as discs whose area is proportional to the
/// point's attention weight, coloured by level.
public struct SamplingPoints {
    public struct Point: Equatable, Sendable {
        /// Position in input pixels.
        public let x, y: Double
        /// The point's attention weight (a head's weights sum to 1 over its L·P points).
        public let weight: Double
        public let level, head: Int
    }

    /// [Q][M·L·P] points of each query.
    public let points: [[Point]]
    /// Each level's cells and stride.
    public let levels: [FeatureMapGrid]
    /// Each level's stride in input pixels.
    public var strides: [Int] { levels.map(\.stride) }

    /// `locations` [1, Q, M, L, P, 2] (normalized over each level's map, grid_sample's
    /// convention: 0 and 1 are the map's outer edges) and `weights` [1, Q, M, L, P] of one
    /// image whose network input was `inputSize` pixels. Level l's H_l×W_l map has the stride
    /// s (a power of two) with ⌈h/s⌉ = H_l and ⌈w/s⌉ = W_l, and covers s·W_l × s·H_l input pixels.
    public init(locations: Tensor, weights: Tensor, spatialShapes: [(height: Int, width: Int)],
                inputSize: (height: Int, width: Int)) throws(SamplingPointsError) {
        guard locations.rank == 6, locations.shape[0] == 1, locations.shape[5] == 2, locations.shape[3] == spatialShapes.count,
              weights.shape == Array(locations.shape.dropLast()) else {
            throw .shapes(locations: locations.shape, weights: weights.shape, levels: spatialShapes.count)
        }
        var grids: [FeatureMapGrid] = []
        for (level, shape) in spatialShapes.enumerated() {
            guard let grid = FeatureMapGrid(inputSize: inputSize, cells: shape) else { throw .noStride(level: level, shape: shape, inputSize: inputSize) }
            grids.append(grid)
        }
        let (queries, heads, levels, perLevel) = (locations.shape[1], locations.shape[2], locations.shape[3], locations.shape[4])
        let xy = locations.cast(to: .float64).contiguous().doubles(), w = weights.cast(to: .float64).contiguous().doubles()
        var points: [[Point]] = []
        for q in 0..<queries {
            var row: [Point] = []
            for m in 0..<heads {
                for l in 0..<levels {
                    let extent = (x: Double(grids[l].stride * grids[l].width), y: Double(grids[l].stride * grids[l].height))
                    for p in 0..<perLevel {
                        let index = ((q * heads + m) * levels + l) * perLevel + p
                        row.append(Point(x: xy[2 * index] * extent.x, y: xy[2 * index + 1] * extent.y, weight: w[index], level: l, head: m))
                    }
                }
            }
            points.append(row)
        }
        (self.points, self.levels) = (points, grids)
    }

    /// The query of a self-attention over the levels' tokens whose cell lies under pixel
    /// (x, y) of `image`, on the finest level (the first).
    public func finestQuery(x: Int, y: Int, of image: RGBImage) -> Int { levels[0].cellIndex(x: x, y: y, of: image) }

    /// `image` (of any size: the input was resized from it) with query `query`'s points: a
    /// disc in its level's colour, of radius `largest`·√(weight / the query's largest weight)
    /// pixels (at least 1), the heaviest drawn last; points outside the image are left out. A
    /// legend below the image names each level's colour and stride.
    public func picture(query: Int, on image: RGBImage, largest: Double = 6) -> RGBImage {
        var canvas = image
        let heaviest = Swift.max(points[query].map(\.weight).max() ?? 0, .leastNonzeroMagnitude)
        let inputSize = levels[0].inputSize
        let (sx, sy) = (Double(image.width) / Double(inputSize.width), Double(image.height) / Double(inputSize.height))
        for point in points[query].sorted(by: { $0.weight < $1.weight }) {
            let radius = Swift.max(1, largest * (point.weight / heaviest).squareRoot())
            Drawing.disc(&canvas, x: point.x * sx, y: point.y * sy, radius: radius, colour: Drawing.colour(forClass: point.level))
        }
        var out = RGBImage(width: image.width, height: image.height + 9 * strides.count + 2)
        out.pixels.replaceSubrange(0..<canvas.pixels.count, with: canvas.pixels)
        for (level, stride) in strides.enumerated() {
            Drawing.text(&out, "level \(level) (stride \(stride))", x: 2, y: image.height + 2 + level * 9, colour: Drawing.colour(forClass: level))
        }
        return out
    }
}

public enum SamplingPointsError: Error, CustomStringConvertible {
    case shapes(locations: [Int], weights: [Int], levels: Int)
    case noStride(level: Int, shape: (height: Int, width: Int), inputSize: (height: Int, width: Int))

    public var description: String {
        switch self {
        case let .shapes(locations, weights, levels):
            return "sampling locations \(locations) and weights \(weights) are not [1, queries, heads, \(levels) levels, points, 2] and [1, queries, heads, \(levels), points] of one image"
        case let .noStride(level, shape, size):
            return "level \(level)'s \(shape.height)×\(shape.width) map is not the \(size.height)×\(size.width) input at any stride from 4 to 128"
        }
    }
}
