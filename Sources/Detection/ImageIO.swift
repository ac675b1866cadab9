import CPNG
import CTurboJPEG
import Foundation
import Tapestry

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        check(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        self.init(width: width, height: height, pixels: Array((0..<(width * height)).map { _ in [fill.0, fill.1, fill.2] }.joined()))
    }
}

/// An image file that could not be decoded or written.
public struct ImageError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

/// PNG (libpng) and JPEG (TurboJPEG) decoding to the pixels PIL's
/// `Image.open(path).convert("RGB")` gives, which the original detectors' data loaders use,
/// and PNG encoding.
///
/// Decoding reads the header first and refuses images above `maximumPixels` before any
/// pixel buffer is allocated (a 661-byte PNG can declare 50000×50000 pixels). Corrupt or
/// truncated data, including a JPEG that ends early, is an error naming the file.
public enum ImageIO {
    public static let maximumPixels = 100_000_000

    public static func decode(_ path: String) throws(ImageError) -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw ImageError(file: path, reason: "cannot read the file") }
        return try decode([UInt8](data), name: path)
    }

    public static func decode(_ bytes: [UInt8], name: String) throws(ImageError) -> RGBImage {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodePNG(bytes, name: name) }
        if bytes.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(bytes, name: name) }
        throw ImageError(file: name, reason: bytes.isEmpty ? "empty file" : "neither a PNG nor a JPEG signature")
    }

    static func checkSize(_ width: Int, _ height: Int, _ name: String) throws(ImageError) {
        guard width > 0 && height > 0 else { throw ImageError(file: name, reason: "image has no pixels (\(width)×\(height))") }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maximumPixels, width <= maximumPixels, height <= maximumPixels else {
            throw ImageError(file: name, reason: "image is \(width)×\(height), over the \(maximumPixels / 1_000_000)-megapixel limit")
        }
    }

    static func decodePNG(_ bytes: [UInt8], name: String) throws(ImageError) -> RGBImage {
        var pixels: UnsafeMutablePointer<UInt8>?, width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { source in
            tapestry_png_decode_rgb8(source.baseAddress, source.count, maximumPixels, &pixels, &width, &height, &message)
        }
        defer { free(pixels) }
        switch status {
        case 0: break
        case 2:
            try checkSize(Int(width), Int(height), name)
            throw ImageError(file: name, reason: "image is \(width)×\(height), over the pixel limit")
        default: throw ImageError(file: name, reason: "PNG: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    static func decodeJPEG(_ bytes: [UInt8], name: String) throws(ImageError) -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageError(file: name, reason: "JPEG: cannot start the decoder") }
        defer { tjDestroy(handle) }
        func message() -> String { String(cString: tjGetErrorStr2(handle)) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace) }
        guard header == 0 else { throw ImageError(file: name, reason: "JPEG: \(message())") }
        try checkSize(Int(width), Int(height), name)
        guard colorspace != Int32(TJCS_CMYK.rawValue) && colorspace != Int32(TJCS_YCCK.rawValue) else {
            throw ImageError(file: name, reason: "JPEG: CMYK images are not supported (save it as RGB)")
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue),
                              Int32(TJFLAG_STOPONWARNING))
            }
        }
        // A warning (such as "Premature end of JPEG file") leaves grey rows: an error here.
        guard status == 0 else { throw ImageError(file: name, reason: "JPEG: \(message())") }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// Encodes `image` as PNG and writes it atomically.
    public static func writePNG(_ image: RGBImage, to path: String) throws(ImageError) {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&png) }
        var size = 0
        let stride = Int32(image.width * 3)
        guard image.pixels.withUnsafeBytes({ png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }) != 0 else {
            throw ImageError(file: path, reason: "PNG encoding failed")
        }
        var encoded = [UInt8](repeating: 0, count: size)
        let written = encoded.withUnsafeMutableBytes { target in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, target.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        guard written != 0 else { throw ImageError(file: path, reason: "PNG encoding failed") }
        let failure: AtomicFile.WriteError? = encoded.withUnsafeBytes { buffer in
            do throws(AtomicFile.WriteError) { try AtomicFile.write([buffer], to: path) } catch { return error }
            return nil
        }
        if let failure { throw ImageError(file: path, reason: failure.reason) }
    }
}
