import Foundation

/// A line chart as an image: one or more series of (x, y) points on shared axes, with the
/// axes' ranges written at their ends, a title, and a legend of the series' colours. Used
/// by `zoo plot` for loss and AP curves, for people without TensorBoard.
public struct LinePlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { (self.name, self.points) = (name, points) }
    }

    public var title: String
    public var series: [Series]
    /// What the x axis counts, written under it.
    public var xLabel = "step"
    public var width = 480
    public var height = 300

    public init(title: String, series: [Series]) { (self.title, self.series) = (title, series) }

    /// The plot area's margins: room for the title and legend above, the ranges around.
    static let (left, right, top, bottom) = (56, 12, 20, 24)

    /// The finite points' ranges, widened when flat so that a constant series sits mid-height.
    var ranges: (x: ClosedRange<Double>, y: ClosedRange<Double>)? {
        let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard let minX = finite.map(\.x).min(), let maxX = finite.map(\.x).max(),
              let minY = finite.map(\.y).min(), let maxY = finite.map(\.y).max() else { return nil }
        let padY = maxY > minY ? 0 : Swift.max(Swift.abs(minY) * 0.1, 1)
        return (minX...(maxX > minX ? maxX : minX + 1), (minY - padY)...(maxY + padY))
    }

    /// Pixel (column, row) of a point inside the plot area.
    func pixel(_ x: Double, _ y: Double, _ ranges: (x: ClosedRange<Double>, y: ClosedRange<Double>)) -> (Int, Int) {
        let plotWidth = Double(width - Self.left - Self.right - 1), plotHeight = Double(height - Self.top - Self.bottom - 1)
        let u = (x - ranges.x.lowerBound) / (ranges.x.upperBound - ranges.x.lowerBound)
        let v = (y - ranges.y.lowerBound) / (ranges.y.upperBound - ranges.y.lowerBound)
        return (Self.left + Int((u * plotWidth).rounded()), height - Self.bottom - 1 - Int((v * plotHeight).rounded()))
    }

    public func render() -> RGBImage {
        var image = RGBImage(width: width, height: height, pixels: [UInt8](repeating: 255, count: width * height * 3))
        let ink: (UInt8, UInt8, UInt8) = (40, 40, 40)
        Drawing.text(&image, title, x: 4, y: 4, colour: ink, background: nil)
        // Axes.
        Drawing.fill(&image, x0: Self.left - 1, y0: Self.top, x1: Self.left, y1: height - Self.bottom, colour: ink)
        Drawing.fill(&image, x0: Self.left - 1, y0: height - Self.bottom, x1: width - Self.right, y1: height - Self.bottom + 1, colour: ink)
        guard let ranges else {
            Drawing.text(&image, "no values", x: Self.left + 8, y: Self.top + 8, colour: ink, background: nil)
            return image
        }
        Drawing.text(&image, Self.label(ranges.y.upperBound), x: 2, y: Self.top, colour: ink, background: nil)
        Drawing.text(&image, Self.label(ranges.y.lowerBound), x: 2, y: height - Self.bottom - 8, colour: ink, background: nil)
        Drawing.text(&image, Self.label(ranges.x.lowerBound), x: Self.left, y: height - Self.bottom + 6, colour: ink, background: nil)
        Drawing.text(&image, xLabel, x: (Self.left + width - Self.right - 6 * xLabel.count) / 2, y: height - Self.bottom + 6, colour: ink, background: nil)
        let last = Self.label(ranges.x.upperBound)
        Drawing.text(&image, last, x: width - Self.right - 6 * last.count, y: height - Self.bottom + 6, colour: ink, background: nil)
        for (index, line) in series.enumerated() {
            let colour = Drawing.colour(forClass: index)
            let points = line.points.filter { $0.x.isFinite && $0.y.isFinite }.map { pixel($0.x, $0.y, ranges) }
            for (a, b) in zip(points, points.dropFirst()) { Self.segment(&image, from: a, to: b, colour: colour) }
            if points.count == 1 { Drawing.fill(&image, x0: points[0].0 - 1, y0: points[0].1 - 1, x1: points[0].0 + 2, y1: points[0].1 + 2, colour: colour) }
            // Legend, top right: a swatch and the name.
            let y = Self.top + 4 + 10 * index, x = width - Self.right - 8 - 6 * line.name.count - 10
            Drawing.fill(&image, x0: x, y0: y + 1, x1: x + 7, y1: y + 6, colour: colour)
            Drawing.text(&image, line.name, x: x + 10, y: y, colour: ink, background: nil)
        }
        return image
    }

    /// A straight segment, two pixels thick (Bresenham's line).
    static func segment(_ image: inout RGBImage, from a: (Int, Int), to b: (Int, Int), colour: (UInt8, UInt8, UInt8)) {
        var (x, y) = a
        let (dx, dy) = (Swift.abs(b.0 - a.0), -Swift.abs(b.1 - a.1))
        let (sx, sy) = (a.0 < b.0 ? 1 : -1, a.1 < b.1 ? 1 : -1)
        var error = dx + dy
        while true {
            Drawing.fill(&image, x0: x, y0: y, x1: x + 2, y1: y + 2, colour: colour)
            if x == b.0 && y == b.1 { return }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x += sx }
            if doubled <= dx { error += dx; y += sy }
        }
    }

    /// A short label: "0.0123", "18.1", "1.5k", "25k".
    static func label(_ value: Double) -> String {
        let magnitude = Swift.abs(value)
        if magnitude >= 10_000 { return String(format: "%.0fk", value / 1000) }
        if magnitude >= 1000 { return String(format: "%.1fk", value / 1000) }
        if magnitude >= 10 || value == value.rounded() { return String(format: "%.0f", value) }
        if magnitude >= 1 { return String(format: "%.2f", value) }
        return String(format: "%.3f", value)
    }
}
