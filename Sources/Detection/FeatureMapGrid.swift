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

    /// The cell row under row `y` of `image`.
    public func row(_ y: Int, of image: RGBImage) -> Int { Swift.min(height - 1, y * inputSize.height / image.height / stride) }

    /// The cell column under column `x` of `image`.
    public func column(_ x: Int, of image: RGBImage) -> Int { Swift.min(width - 1, x * inputSize.width / image.width / stride) }

    /// The row-major index of the cell under pixel (x, y) of `image`.
    public func cellIndex(x: Int, y: Int, of image: RGBImage) -> Int { row(y, of: image) * width + column(x, of: image) }
}
