import Foundation
import Testing
@testable import Detection

@Suite struct COCODatasetLoading {
    func load(_ name: String) throws(COCODatasetError) -> COCODataset { try COCODataset.load(fixturePath("bad-coco/\(name).json")) }

    func error(_ name: String) -> COCODatasetError? {
        do { _ = try load(name); return nil } catch { return error }
    }

    @Test func loadsTheValidFiles() throws {
        let minimal = try load("valid_minimal")
        #expect(minimal.images.count == 2 && minimal.annotations.count == 3)
        #expect(minimal.categories.map(\.id) == [1, 3] && minimal.classIndex == [1: 0, 3: 1])
        #expect(minimal.warnings.isEmpty)
        let empty = try load("empty_annotations")
        #expect(empty.images.count == 2 && empty.annotations.isEmpty)
        #expect(empty.images.allSatisfy { empty.trainingBoxes(imageId: $0.id).isEmpty })
    }

    @Test func dropsDegenerateAndClampsBoxesWithOneWarning() throws {
        let degenerate = try load("degenerate_boxes")
        #expect(degenerate.degenerateAnnotationIds == [10, 11, 12])
        #expect(degenerate.warnings.count == 1 && degenerate.warnings[0].contains("3 degenerate boxes") && degenerate.warnings[0].contains("10, 11, 12"))
        #expect(degenerate.annotations.contains { $0.id == 13 })
        let outside = try load("boxes_outside_image")
        #expect(outside.degenerateAnnotationIds == [20])
        let kept = outside.images.flatMap { outside.trainingBoxes(imageId: $0.id) }.map(\.box)
        #expect(kept.contains([0, 0, 30, 30]) && kept.contains([300, 200, 320, 240]))
    }

    /// (file, array, entry fragment, field, reason fragment) for every ERROR row of the README.
    static let rejected: [(String, String?, String?, String?, String)] = [
        ("truncated", nil, nil, nil, "invalid JSON at byte"),
        ("missing_images_key", nil, nil, nil, "missing required top-level key images"),
        ("annotation_missing_bbox", "annotations", "id 2 (index 1)", "bbox", "missing"),
        ("bbox_wrong_length", "annotations", "id 1", "bbox", "has 3 numbers, expected 4"),
        ("wrong_types", "annotations", "id 1", "bbox", "must be an array"),
        ("unknown_category_id", "annotations", "id 2", "category_id", "999 is not listed"),
        ("annotation_unknown_image_id", "annotations", "id 3", "image_id", "image 42, which is not in images"),
        ("duplicate_image_ids", "images", "id 1", "id", "appears twice (entries 0 and 2)"),
        ("annotation_id_zero", "annotations", "index", "id", "id 0"),
        ("huge_numbers", "images", "id 1", "width", "not a finite"),
        ("nan_values", nil, nil, nil, "NaN and Infinity are not JSON numbers"),
    ]

    @Test func rejectsEveryMalformedFileNamingTheEntryAndField() {
        for (file, array, entry, field, reason) in Self.rejected {
            guard let e = error(file) else { Issue.record("\(file) loaded"); continue }
            #expect(e.file.hasSuffix("\(file).json") && e.description.contains("\(file).json"), "\(e)")
            #expect(e.array == array, "\(file): \(e)")
            if let entry { #expect(e.entry?.contains(entry) == true, "\(file): \(e)") }
            #expect(e.field == field, "\(file): \(e)")
            #expect(e.reason.contains(reason), "\(file): \(e)")
        }
        // JSON errors carry a line and column too.
        #expect(error("truncated")!.reason.contains("line "))
    }
}
