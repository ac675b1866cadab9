/// The cells of a feature map that a backbone computes at stride s over an h×w network
/// input: ⌈h/s⌉ × ⌈w/s⌉ cells in row-major order, cell (r, c) covering the input pixels
/// [s·r, s·(r+1)) × [s·c, s·(c+1)). Pictures map the pixels of the image the input was
/// resized from (of any size) to these cells.
public struct FeatureMapGrid: Sendable {
    public let stride: Int
    public let height, width: Int
    public let inputSize: (height: Int, width: Int)

    public init(inputSize: (height: Int, width: Int), stride: Int) {
        (self.inputSize, self.stride) = (inputSize, stride)
        (height, width) = ((inputSize.height + stride - 1) / stride, (inputSize.width + stride - 1) / stride)
    }

    /// The grid of an H×W map over `inputSize`: the power-of-two stride s (1 to 128) with
    /// ⌈h/s⌉ = H and ⌈w/s⌉ = W; nil when none gives those cells.
    public init?(inputSize: (height: Int, width: Int), cells: (height: Int, width: Int)) {
        guard let grid = (0...7).map({ FeatureMapGrid(inputSize: inputSize, stride: 1 << $0) })
            .first(where: { $0.height == cells.height && $0.width == cells.width }) else { return nil }
        self = grid
    }

    /// The cell row under row `y` of `image`.
    public func row(_ y: Int, of image: RGBImage) -> Int { Swift.min(height - 1, y * inputSize.height / image.height / stride) }

    /// The cell column under column `x` of `image`.
    public func column(_ x: Int, of image: RGBImage) -> Int { Swift.min(width - 1, x * inputSize.width / image.width / stride) }

    /// The row-major index of the cell under pixel (x, y) of `image`.
    public func cellIndex(x: Int, y: Int, of image: RGBImage) -> Int { row(y, of: image) * width + column(x, of: image) }

    /// `image` (any size: the input was resized from it) with a weight per cell over it
    /// (`weights` row-major, one per cell): each pixel tinted by its cell's weight relative
    /// to the largest, on a black–red–yellow–white ramp, half and half with the image.
    public func overlay(_ weights: [Double], on image: RGBImage) -> RGBImage {
        let peak = Swift.max(weights.max() ?? 0, .leastNonzeroMagnitude)
        var out = image
        for y in 0..<image.height {
            let rowStart = row(y, of: image) * width
            for x in 0..<image.width {
                let t = weights[rowStart + column(x, of: image)] / peak
                let ramp = Drawing.heat(t)
                let i = (y * image.width + x) * 3
                for c in 0..<3 { out.pixels[i + c] = UInt8((Double(image.pixels[i + c]) * 0.5 + ramp[c] * 255 * 0.5).rounded()) }
            }
        }
        return out
    }
}
