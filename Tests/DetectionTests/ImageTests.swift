import Foundation
import Testing
@testable import Detection

@Suite struct ImageDecoding {
    @Test func decodesTheValidFiles() throws {
        let png = try ImageIO.decode(fixturePath("bad-images/valid.png"))
        let jpg = try ImageIO.decode(fixturePath("bad-images/valid.jpg"))
        #expect(png.width == 64 && png.height == 48 && jpg.width == 64 && jpg.height == 48)
        // Same gradient: the JPEG (quality 90) stays close to the lossless PNG.
        let worst = zip(png.pixels, jpg.pixels).map { Swift.abs(Int($0) - Int($1)) }.max()!
        #expect(worst < 24, "largest PNG/JPEG pixel difference \(worst)")
        #expect(Set(png.pixels).count > 20, "a gradient, not a flat image")
    }

    @Test(arguments: ["empty.png", "truncated.png", "bad_idat.png", "garbage_after_signature.png", "bomb_50000x50000.png",
                      "ihdr_width_2e9.png", "truncated.jpg", "garbage_after_soi.jpg", "sof_65000x65000.jpg"])
    func rejectsEveryCorruptFileNamingIt(_ name: String) {
        do {
            _ = try ImageIO.decode(fixturePath("bad-images/\(name)"))
            Issue.record("\(name) decoded")
        } catch {
            #expect(error.file.hasSuffix(name) && error.description.contains(name))
            if name.hasPrefix("bomb") || name.hasPrefix("sof") { #expect(error.reason.contains("megapixel limit"), "\(error)") }
        }
    }

    @Test func pngRoundTripIsExact() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-img-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        try ImageIO.writePNG(image, to: directory + "/a.png")
        #expect(try ImageIO.decode(directory + "/a.png") == image)
        #expect(throws: ImageError.self) { try ImageIO.writePNG(image, to: "/nonexistent-dir/a.png") }
    }
}

/// Decoding as the original data loaders do (PIL's `Image.open(path).convert("RGB")`): the
/// expected pixels were recorded from Pillow by `Fixtures/pil-decoding/make.py`.
@Suite struct DecodingLikePIL {
    struct Expected: Decodable { let width: Int; let height: Int; let pil_mode: String }

    static let expected: [String: Expected] = {
        let data = FileManager.default.contents(atPath: fixturePath("pil-decoding/expected.json"))!
        return try! JSONDecoder().decode([String: Expected].self, from: data)
    }()

    @Test(arguments: expected.keys.sorted()) func matchesPillow(_ file: String) throws {
        let image = try ImageIO.decode(fixturePath("pil-decoding/\(file)"))
        let reference = [UInt8](FileManager.default.contents(atPath: fixturePath("pil-decoding/\((file as NSString).deletingPathExtension).rgb"))!)
        let expected = try #require(Self.expected[file])
        #expect(image.width == expected.width && image.height == expected.height)
        #expect(reference.count == expected.width * expected.height * 3)
        let differing = zip(image.pixels, reference).filter { $0 != $1 }.count
        #expect(image.pixels.count == reference.count && differing == 0, "\(file) (\(expected.pil_mode) in PIL): \(differing) bytes differ")
    }
}

extension DecodingLikePIL {
    @Test func cmykJPEGIsRefusedByName() {
        #expect { try ImageIO.decode(fixturePath("pil-decoding/cmyk.jpg")) } throws: { error in
            let text = "\(error)"
            return error is ImageError && text.contains("cmyk.jpg") && text.contains("CMYK images are not supported")
        }
    }
}
