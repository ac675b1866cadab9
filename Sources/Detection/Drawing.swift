import Foundation
import Tapestry

/// Drawing detections onto images for people to look at: box outlines, labels in a small
/// built-in 5×7 bitmap font, and sheets of several images side by side.
public enum Drawing {
    /// A distinct colour per class (a fixed, well-spread palette).
    public static func colour(forClass index: Int) -> (UInt8, UInt8, UInt8) {
        let palette: [(UInt8, UInt8, UInt8)] = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                                                (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190)]
        return palette[((index % palette.count) + palette.count) % palette.count]
    }

    /// The black–red–yellow–white ramp of the attention pictures at t in [0, 1], each
    /// channel in [0, 1].
    public static func heat(_ t: Double) -> [Double] {
        [Swift.min(1, 3 * t), Swift.min(1, Swift.max(0, 3 * t - 1)), Swift.min(1, Swift.max(0, 3 * t - 2))]
    }

    /// The image scaled up `factor` times by repeating pixels.
    public static func enlarged(_ image: RGBImage, by factor: Int) -> RGBImage {
        guard factor > 1 else { return image }
        var out = RGBImage(width: image.width * factor, height: image.height * factor)
        for y in 0..<out.height {
            for x in 0..<out.width {
                let (o, i) = ((y * out.width + x) * 3, ((y / factor) * image.width + x / factor) * 3)
                (out.pixels[o], out.pixels[o + 1], out.pixels[o + 2]) = (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
            }
        }
        return out
    }

    /// Fills the rectangle [x0, x1) × [y0, y1), clipped to the image.
    public static func fill(_ image: inout RGBImage, x0: Int, y0: Int, x1: Int, y1: Int, colour: (UInt8, UInt8, UInt8)) {
        let (top, bottom) = (Swift.max(0, y0), Swift.min(image.height, y1)), (left, right) = (Swift.max(0, x0), Swift.min(image.width, x1))
        guard top < bottom && left < right else { return }
        for y in top..<bottom {
            for x in left..<right {
                let i = (y * image.width + x) * 3
                (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) = colour
            }
        }
    }

    /// Fills the pixels whose centres lie within `radius` of (x, y), clipped to the image.
    public static func disc(_ image: inout RGBImage, x: Double, y: Double, radius: Double, colour: (UInt8, UInt8, UInt8)) {
        let (top, bottom) = (Swift.max(0, Int((y - radius).rounded(.down))), Swift.min(image.height - 1, Int((y + radius).rounded(.up))))
        let (left, right) = (Swift.max(0, Int((x - radius).rounded(.down))), Swift.min(image.width - 1, Int((x + radius).rounded(.up))))
        guard top <= bottom && left <= right else { return }
        for py in top...bottom {
            for px in left...right {
                let (dx, dy) = (Double(px) + 0.5 - x, Double(py) + 0.5 - y)
                guard dx * dx + dy * dy <= radius * radius else { continue }
                let i = (py * image.width + px) * 3
                (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) = colour
            }
        }
    }

    /// Outlines the box [x0, y0, x1, y1] (pixels) `thickness` pixels wide.
    public static func rectangle(_ image: inout RGBImage, _ box: [Double], colour: (UInt8, UInt8, UInt8), thickness: Int = 2) {
        let (x0, y0, x1, y1) = (Int(box[0].rounded()), Int(box[1].rounded()), Int(box[2].rounded()), Int(box[3].rounded()))
        fill(&image, x0: x0, y0: y0, x1: x1, y1: y0 + thickness, colour: colour)
        fill(&image, x0: x0, y0: y1 - thickness, x1: x1, y1: y1, colour: colour)
        fill(&image, x0: x0, y0: y0, x1: x0 + thickness, y1: y1, colour: colour)
        fill(&image, x0: x1 - thickness, y0: y0, x1: x1, y1: y1, colour: colour)
    }

    /// Writes `text` (upper-cased; unknown characters as "?") with its top-left corner at
    /// (x, y) on a filled background, each font pixel `scale` pixels wide.
    public static func text(_ image: inout RGBImage, _ text: String, x: Int, y: Int, colour: (UInt8, UInt8, UInt8),
                            background: (UInt8, UInt8, UInt8)? = (0, 0, 0), scale: Int = 1) {
        let characters = Array(text.uppercased())
        if let background {
            fill(&image, x0: x - scale, y0: y - scale, x1: x + characters.count * 6 * scale, y1: y + 8 * scale, colour: background)
        }
        for (n, character) in characters.enumerated() {
            let rows = font[character] ?? font["?"]!
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (0x10 >> column) != 0 {
                    let px = x + (n * 6 + column) * scale, py = y + row * scale
                    fill(&image, x0: px, y0: py, x1: px + scale, y1: py + scale, colour: colour)
                }
            }
        }
    }

    /// The image with each detection outlined in its class colour and labelled
    /// "<name> <score>" (scores shown with two decimals; nil scores are ground truth).
    public static func annotated(_ image: RGBImage, _ boxes: [(classIndex: Int, box: [Double], score: Double?)], names: [String], scale: Int = 1) -> RGBImage {
        var out = enlarged(image, by: scale)
        for d in boxes {
            let box = d.box.map { $0 * Double(scale) }
            let c = colour(forClass: d.classIndex)
            rectangle(&out, box, colour: c, thickness: Swift.max(1, scale))
            let name = d.classIndex < names.count ? names[d.classIndex] : "\(d.classIndex)"
            let label = d.score.map { name + String(format: " %.2f", $0) } ?? name
            text(&out, label, x: Int(box[0]) + 2, y: Swift.max(1, Int(box[1]) - 9), colour: c)
        }
        return out
    }

    /// Images in a grid of `columns`, each under its title, on a dark background.
    public static func sheet(_ images: [(title: String, image: RGBImage)], columns: Int, gap: Int = 8) -> RGBImage {
        check(!images.isEmpty && columns > 0, "Drawing.sheet needs images and at least one column")
        let cellWidth = images.map(\.image.width).max()!, cellHeight = images.map(\.image.height).max()! + 14
        let rows = (images.count + columns - 1) / columns
        var out = RGBImage(width: columns * (cellWidth + gap) + gap, height: rows * (cellHeight + gap) + gap, fill: (24, 24, 24))
        for (n, item) in images.enumerated() {
            let left = gap + (n % columns) * (cellWidth + gap), top = gap + (n / columns) * (cellHeight + gap)
            text(&out, item.title, x: left + 1, y: top + 2, colour: (230, 230, 230), background: nil)
            for y in 0..<item.image.height {
                for x in 0..<item.image.width {
                    let (o, i) = (((top + 14 + y) * out.width + left + x) * 3, (y * item.image.width + x) * 3)
                    (out.pixels[o], out.pixels[o + 1], out.pixels[o + 2]) = (item.image.pixels[i], item.image.pixels[i + 1], item.image.pixels[i + 2])
                }
            }
        }
        return out
    }

    /// 5×7 glyphs, one byte per row, bit 4 the leftmost pixel.
    static let font: [Character: [UInt8]] = [
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], "-": [0, 0, 0, 0x1F, 0, 0, 0], ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04], " ": [0, 0, 0, 0, 0, 0, 0], "_": [0, 0, 0, 0, 0, 0, 0x1F],
        "/": [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10], "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], "=": [0, 0, 0x1F, 0, 0x1F, 0, 0],
    ]
}
