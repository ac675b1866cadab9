import Foundation
import Testing
@testable import Tapestry

/// Fixture files kept in the repository (Tests/TapestryTests/Fixtures).
func fixturePath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}

@Suite struct SafetensorsReading {
    /// Every `reject` file of bad-safetensors/README.md, with the problem it must report.
    static let rejected: [(file: String, problem: SafetensorsError.Problem)] = [
        ("empty_file", .fileTooSmall(size: 0)),
        ("header_len_past_eof", .headerPastEndOfFile(length: 4096, fileSize: 72)),
        ("header_len_u64_max", .headerTooLarge(length: UInt64.max)),
        ("header_len_over_100MB_limit", .headerTooLarge(length: 100_000_001)),
        ("header_invalid_utf8", .invalidUTF8),
        ("negative_dim", .invalidEntry(tensor: "a", reason: "shape entries must be non-negative integers")),
        ("unknown_dtype", .unknownDType(tensor: "a", dtype: "F128")),
        ("metadata_non_string_value", .metadataNotStrings(key: "epoch")),
        ("header_not_an_object", .headerNotAnObject),
        ("size_mismatch_dtype_shape", .sizeMismatch(tensor: "a", expectedBytes: 16, actualBytes: 12)),
        ("offsets_past_eof", .notFullyCovered(expectedSize: 0, fileSize: 72)),
        ("trailing_bytes", .notFullyCovered(expectedSize: 0, fileSize: 80)),
        ("shape_product_overflow", .shapeOverflow(tensor: "a")),
    ]

    /// Problems whose detail text varies (JSON positions, offset reasons): matched by kind and tensor.
    static let rejectedByKind: [(file: String, kind: String, tensor: String?)] = [
        ("header_truncated_json", "invalidJSON", nil),
        ("header_nul_padding", "invalidJSON", nil),
        ("duplicate_tensor_name", "invalidJSON", nil),
        ("offsets_reversed", "invalidOffsets", "b"),
        ("offsets_overlap", "invalidOffsets", "b"),
        ("offsets_gap", "invalidOffsets", "b"),
        ("offsets_not_from_zero", "invalidOffsets", "a"),
    ]

    func readError(_ name: String) -> SafetensorsError? {
        do {
            _ = try SafetensorsFile.read(fixturePath("bad-safetensors/\(name).safetensors"))
            return nil
        } catch {
            return error
        }
    }

    @Test func rejectsEveryMalformedFileWithANamedProblem() {
        for (file, problem) in Self.rejected {
            guard let error = readError(file) else { Issue.record("\(file) was accepted"); continue }
            #expect(error.file.hasSuffix("\(file).safetensors"))
            switch (error.problem, problem) {
            case (.notFullyCovered(_, let size), .notFullyCovered(_, let want)): #expect(size == want, "\(file)")
            default: #expect(error.problem == problem, "\(file): \(error)")
            }
            #expect(error.description.contains(file), "the message names the file: \(error)")
        }
        for (file, kind, tensor) in Self.rejectedByKind {
            guard let error = readError(file) else { Issue.record("\(file) was accepted"); continue }
            #expect("\(error.problem)".hasPrefix(kind), "\(file): \(error)")
            if let tensor { #expect(error.description.contains("\"\(tensor)\""), "\(file) names tensor \(tensor): \(error)") }
        }
        #expect(readError("duplicate_tensor_name")!.description.contains("duplicate key \"a\""))
        #expect(Self.rejected.count + Self.rejectedByKind.count == 20, "every reject file of the README is covered")
    }

    @Test func acceptsTheValidFilesWithExactValues() throws {
        let valid = try SafetensorsFile.read(fixturePath("bad-safetensors/valid.safetensors"))
        #expect(valid.metadata == ["format": "pt", "note": "fixture for reader tests"])
        #expect(valid.names == ["step", "labels", "weight", "bias", "empty", "half"])
        #expect(valid["step"]!.shape == [] && valid["step"]!.scalars(as: Int64.self) == [1234])
        #expect(valid["labels"]!.scalars(as: Int64.self) == [-1, 0, 91])
        #expect(valid["weight"]!.shape == [2, 3] && valid["weight"]!.scalars(as: Float.self) == [1, -2, 0.5, 3.25, 0, -0.125])
        #expect(valid["bias"]!.scalars(as: Float.self) == [0.1, 0.2, 0.3])
        #expect(valid["empty"]!.shape == [0, 4] && valid["empty"]!.dtype == .float32)
        #expect(valid["half"]!.scalars(as: Float.self) == [1.5, -2.0])

        let unaligned = try SafetensorsFile.read(fixturePath("bad-safetensors/ok_unaligned_data.safetensors"))
        #expect(unaligned.names == ["x"] && unaligned["x"]!.shape == [3])
        // Its data bytes are 0x3f800000, 0x40000000, 0x40400000 (little-endian), at an odd offset.
        #expect(unaligned["x"]!.scalars(as: Float.self) == [1, 2, 3])
        let none = try SafetensorsFile.read(fixturePath("bad-safetensors/ok_no_tensors.safetensors"))
        #expect(none.tensors.isEmpty && none.metadata == ["k": "v"])
    }

    @Test func missingFileIsATypedError() {
        #expect(throws: SafetensorsError(file: "/nonexistent/x.safetensors", problem: .unreadable("no such file"))) {
            try SafetensorsFile.read("/nonexistent/x.safetensors")
        }
    }

    @Test func everyTruncationOfAValidFileIsRejected() throws {
        let bytes = [UInt8](FileManager.default.contents(atPath: fixturePath("bad-safetensors/valid.safetensors"))!)
        for length in 0..<bytes.count {
            #expect(throws: SafetensorsError.self) { try SafetensorsFile.parse(Array(bytes[..<length]), file: "cut") }
        }
    }

    /// A flipped byte anywhere in the length prefix or the header is either refused with a
    /// typed error or, when it lands in a name or the metadata, leaves every tensor's dtype,
    /// shape and values as they were (and the name differing at most in that byte).
    @Test func everyFlippedHeaderByteIsRefusedOrHarmless() throws {
        let bytes = [UInt8](FileManager.default.contents(atPath: fixturePath("bad-safetensors/valid.safetensors"))!)
        let original = try SafetensorsFile.parse(bytes, file: "valid")
        let headerEnd = 8 + bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var refused = 0, harmless = 0
        for position in 0..<headerEnd {
            var damaged = bytes
            damaged[position] ^= 0x5A
            do {
                let file = try SafetensorsFile.parse(damaged, file: "flipped")
                #expect(file.tensors.count == original.tensors.count, "byte \(position)")
                for (mine, theirs) in zip(file.tensors, original.tensors) {
                    let differingBytes = zip(Array(mine.name.utf8), Array(theirs.name.utf8)).filter { $0 != $1 }.count
                    #expect(mine.name.utf8.count == theirs.name.utf8.count && differingBytes <= 1, "byte \(position): \(mine.name)")
                    #expect(mine.tensor.dtype == theirs.tensor.dtype && mine.tensor.shape == theirs.tensor.shape
                            && mine.tensor.doubles() == theirs.tensor.doubles(), "byte \(position) changed \(theirs.name)")
                }
                harmless += 1
            } catch {
                refused += 1
            }
        }
        #expect(refused + harmless == headerEnd && refused > headerEnd / 2 && harmless > 0)
    }
}

@Suite struct SafetensorsWriting {
    @Test func roundTripsEveryDType() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/round.safetensors"
        let original = SafetensorsFile(tensors: [
            ("w", Tensor([1.5, -2, 3] as [Float], shape: [3, 1])),
            ("d", Tensor([Double.pi, -1e300], shape: [2])),
            ("i", Tensor([Int64.min, 0, Int64.max])),
            ("j", Tensor([Int32(-7)], shape: [])),
            ("u", Tensor([UInt8(0), 255])),
            ("m", Tensor([true, false, true] as [Bool8])),
            ("t", Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3]).transposed()),
            ("e", Tensor.zeros([0, 5])),
        ], metadata: ["format": "pt", "quote\"d": "line\nbreak"])
        try original.write(to: path)
        let back = try SafetensorsFile.read(path)
        #expect(back.names == original.names)
        #expect(back.metadata == original.metadata)
        for (name, tensor) in original.tensors {
            #expect(back[name]!.shape == tensor.shape && back[name]!.dtype == tensor.dtype, "\(name)")
            #expect(back[name]!.doubles() == tensor.doubles(), "\(name)")
        }
        // Header length is a multiple of 8 and no temporary file is left behind.
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        #expect(Int(bytes[0]) % 8 == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["round.safetensors"])
    }

    @Test func writingIntoAMissingDirectoryIsATypedError() {
        let file = SafetensorsFile(tensors: [("a", Tensor.zeros([2]))])
        #expect(throws: SafetensorsError.self) { try file.write(to: "/nonexistent-dir/a.safetensors") }
    }
}
