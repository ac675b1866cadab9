import Tapestry

/// A local self-attention's weights as a picture (SASA, Ramachandran et al. 2019): for one
/// cell of the layer's map, how much each head attends to each of its k×k neighbours.
public struct NeighbourhoodMap {
    /// The layer's map over the network input.
    public let grid: FeatureMapGrid
    public let kernelSize: Int
    public let heads: Int
    /// [heads][k²][cells], row-major over (offset a·k + b, cell).
    private let weights: [Double]

    /// `weights` [1, heads, k², H, W] of one image (`AttentionRecorder.NeighbourhoodRecord`)
    /// whose network input was `inputSize` pixels; the H×W map has a power-of-two stride.
    public init(weights: Tensor, kernelSize: Int, inputSize: (height: Int, width: Int)) throws(NeighbourhoodMapError) {
        guard weights.rank == 5, weights.shape[0] == 1, weights.shape[2] == kernelSize * kernelSize else {
            throw .shape(weights.shape, kernelSize: kernelSize)
        }
        guard let grid = FeatureMapGrid(inputSize: inputSize, cells: (weights.shape[3], weights.shape[4])) else {
            throw .noStride(height: weights.shape[3], width: weights.shape[4], inputSize: inputSize)
        }
        (self.grid, self.kernelSize, heads) = (grid, kernelSize, weights.shape[1])
        self.weights = weights.cast(to: .float64).contiguous().doubles()
    }

    /// Head `head`'s weights over the k×k window of cell (row, column), row-major: entry
    /// a·k + b is the neighbour at (row + a − p, column + b − p), p = (k − 1)/2. Neighbours
    /// outside the map are included (their key is 0 but their weight is not).
    public func window(head: Int, row: Int, column: Int) -> [Double] {
        let (cells, window) = (grid.height * grid.width, kernelSize * kernelSize)
        return (0..<window).map { weights[(head * window + $0) * cells + row * grid.width + column] }
    }

    /// The heads' mean weight on each cell of the map for the pixel at cell (row, column):
    /// its window's weights where the window lies inside the map, 0 elsewhere.
    public func cellWeights(row: Int, column: Int) -> [Double] {
        let p = (kernelSize - 1) / 2
        var out = [Double](repeating: 0, count: grid.height * grid.width)
        for head in 0..<heads {
            for (offset, weight) in window(head: head, row: row, column: column).enumerated() {
                let (r, c) = (row + offset / kernelSize - p, column + offset % kernelSize - p)
                if r >= 0, r < grid.height, c >= 0, c < grid.width { out[r * grid.width + c] += weight / Double(heads) }
            }
        }
        return out
    }

    /// `image` (the network input was resized from it) with the neighbourhood of the cell
    /// under pixel (x, y) over it: each neighbour tinted by the heads' mean weight
    /// (`FeatureMapGrid.overlay`), the window outlined in white.
    public func overlay(x: Int, y: Int, on image: RGBImage) -> RGBImage {
        let (row, column) = (grid.row(y, of: image), grid.column(x, of: image))
        var out = grid.overlay(cellWeights(row: row, column: column), on: image)
        let p = (kernelSize - 1) / 2
        // The window's corners in image pixels, clipped to the image so every side shows.
        let (sx, sy) = (Double(grid.stride * image.width) / Double(grid.inputSize.width), Double(grid.stride * image.height) / Double(grid.inputSize.height))
        let (width, height) = (Double(image.width), Double(image.height))
        let box = [Swift.max(0, Double(column - p) * sx), Swift.max(0, Double(row - p) * sy),
                   Swift.min(width, Double(column + p + 1) * sx), Swift.min(height, Double(row + p + 1) * sy)]
        Drawing.rectangle(&out, box, colour: (255, 255, 255), thickness: 1)
        return out
    }

    /// Every head's k×k weights at the cell under pixel (x, y), side by side: squares of
    /// `cellSize` pixels on a black–red–yellow–white ramp (relative to the head's largest
    /// weight), the centre square outlined, the head's number above.
    public func headGrids(x: Int, y: Int, of image: RGBImage, cellSize: Int = 8) -> RGBImage {
        let (row, column) = (grid.row(y, of: image), grid.column(x, of: image))
        let (side, gap, label) = (kernelSize * cellSize, 4, 10)
        var out = RGBImage(width: heads * (side + gap) + gap, height: side + label + gap, fill: (24, 24, 24))
        for head in 0..<heads {
            let window = window(head: head, row: row, column: column), peak = Swift.max(window.max() ?? 0, .leastNonzeroMagnitude)
            let left = gap + head * (side + gap)
            Drawing.text(&out, "h\(head)", x: left, y: 1, colour: (210, 210, 210), background: nil)
            for (offset, weight) in window.enumerated() {
                let ramp = Drawing.heat(weight / peak).map { UInt8(($0 * 255).rounded()) }
                let (x0, y0) = (left + offset % kernelSize * cellSize, label + offset / kernelSize * cellSize)
                Drawing.fill(&out, x0: x0, y0: y0, x1: x0 + cellSize, y1: y0 + cellSize, colour: (ramp[0], ramp[1], ramp[2]))
            }
            let centre = (kernelSize - 1) / 2 * cellSize
            Drawing.rectangle(&out, [Double(left + centre), Double(label + centre), Double(left + centre + cellSize), Double(label + centre + cellSize)],
                              colour: (80, 160, 255), thickness: 1)
        }
        return out
    }
}

public enum NeighbourhoodMapError: Error, CustomStringConvertible {
    case shape([Int], kernelSize: Int)
    case noStride(height: Int, width: Int, inputSize: (height: Int, width: Int))

    public var description: String {
        switch self {
        case let .shape(shape, k): return "neighbourhood weights \(shape) are not [1, heads, \(k * k), H, W] of one image with a \(k)×\(k) window"
        case let .noStride(h, w, size): return "a \(h)×\(w) map is not the cells of the \(size.height)×\(size.width) input at a power-of-two stride"
        }
    }
}
