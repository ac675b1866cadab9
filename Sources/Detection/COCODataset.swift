import Foundation
import Tapestry

/// A COCO-format detection dataset (`instances_*.json`): images, box annotations and
/// categories, validated entry by entry.
///
/// Every malformed entry is a `COCODatasetError` naming the file, the array, the entry (its
/// id, or its index when the id itself is bad) and the field. Boxes that are merely
/// degenerate are dropped from training targets as DETR's `ConvertCocoPolysToMask` drops
/// them (clamp to the image, keep x₁ > x₀ and y₁ > y₀), with one summary warning. Crowd
/// boxes are kept for evaluation and left out of training targets. Category ids may be
/// sparse; `classIndex` maps them to 0..<K explicitly.
public struct COCODataset: Sendable {
    public struct Image: Sendable, Equatable {
        public let id: Int
        public let fileName: String
        public let width: Int
        public let height: Int
    }

    public struct Annotation: Sendable, Equatable {
        public let id: Int
        public let imageId: Int
        public let categoryId: Int
        /// [x, y, w, h] in pixels, as in the file.
        public let bbox: [Double]
        public let area: Double
        public let crowd: Bool
    }

    public struct Category: Sendable, Equatable {
        public let id: Int
        public let name: String
    }

    public let path: String
    public let images: [Image]
    public let annotations: [Annotation]
    /// Sorted by id.
    public let categories: [Category]
    /// Boxes left out of training targets because they are empty after clamping.
    public let degenerateAnnotationIds: [Int]
    /// Summary warnings (at most one per kind).
    public let warnings: [String]

    /// Category id → contiguous class index 0..<K (by ascending id).
    public var classIndex: [Int: Int] { Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($0.element.id, $0.offset) }) }

    /// Training boxes of an image: crowd and degenerate boxes removed, clamped to the
    /// image, as (category id, [x0, y0, x1, y1]).
    public func trainingBoxes(imageId: Int) -> [(categoryId: Int, box: [Double])] {
        guard let image = imagesById[imageId] else { return [] }
        return (annotationsByImage[imageId] ?? []).compactMap { a in
            guard !a.crowd, let box = COCODataset.clampedBox(a.bbox, image) else { return nil }
            return (a.categoryId, box)
        }
    }

    let imagesById: [Int: Image]
    let annotationsByImage: [Int: [Annotation]]

    /// xywh → xyxy clamped to [0, W]×[0, H]; nil when nothing is left (DETR's rule).
    static func clampedBox(_ b: [Double], _ image: Image) -> [Double]? {
        let x0 = min(max(b[0], 0), Double(image.width)), y0 = min(max(b[1], 0), Double(image.height))
        let x1 = min(max(b[0] + b[2], 0), Double(image.width)), y1 = min(max(b[1] + b[3], 0), Double(image.height))
        return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : nil
    }
}

/// A COCO annotation file that cannot be used, with where and why.
public struct COCODatasetError: Error, CustomStringConvertible, Equatable {
    public let file: String
    /// "images", "annotations", "categories", or nil for the whole file.
    public let array: String?
    /// The entry: "id 7", or "index 3" when the id itself is unusable.
    public let entry: String?
    public let field: String?
    public let reason: String

    public var description: String {
        var place = file
        if let array { place += ": \(array)" }
        if let entry { place += " entry \(entry)" }
        if let field { place += ", field \(field)" }
        return "\(place): \(reason)"
    }
}

extension COCODataset {
    /// Pixel sizes and coordinates beyond this are rejected as absurd.
    public static let maximumCoordinate = 1e6

    public static func load(_ path: String) throws(COCODatasetError) -> COCODataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw COCODatasetError(file: path, array: nil, entry: nil, field: nil, reason: "cannot read the file")
        }
        return try parse([UInt8](data), file: path)
    }

    /// Reads an annotation file's bytes; errors name `file`.
    public static func parse(_ bytes: [UInt8], file path: String) throws(COCODatasetError) -> COCODataset {
        func fail(_ array: String?, _ entry: String?, _ field: String?, _ reason: String) -> COCODatasetError {
            COCODatasetError(file: path, array: array, entry: entry, field: field, reason: reason)
        }
        let root: JSONValue
        do { root = try JSONValue.parse(bytes) } catch {
            let prefix = bytes.prefix(error.offset)
            let line = prefix.filter { $0 == 0x0A }.count + 1
            let column = error.offset - (prefix.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
            throw fail(nil, nil, nil, "invalid JSON at byte \(error.offset) (line \(line), column \(column)): \(error.message)")
        }
        guard case .object = root else { throw fail(nil, nil, nil, "the top level is not a JSON object") }
        func array(_ key: String) throws(COCODatasetError) -> [JSONValue] {
            guard let value = root[key] else { throw fail(nil, nil, nil, "missing required top-level key \(key)") }
            guard let items = value.arrayValue else { throw fail(key, nil, nil, "must be an array") }
            return items
        }
        let rawImages = try array("images"), rawAnnotations = try array("annotations"), rawCategories = try array("categories")

        /// The entry's integer id, or an error naming its index.
        func id(_ item: JSONValue, _ arrayName: String, _ index: Int) throws(COCODatasetError) -> Int {
            guard case .object = item else { throw fail(arrayName, "index \(index)", nil, "must be an object") }
            guard let value = item["id"] else { throw fail(arrayName, "index \(index)", "id", "missing") }
            guard let id = value.intValue else { throw fail(arrayName, "index \(index)", "id", "must be an integer, got \(value.serialized)") }
            return id
        }
        func number(_ item: JSONValue, _ key: String, _ arrayName: String, _ entry: String) throws(COCODatasetError) -> Double {
            guard let value = item[key] else { throw fail(arrayName, entry, key, "missing") }
            guard case .number = value, let n = value.doubleValue else { throw fail(arrayName, entry, key, "must be a number, got \(value.serialized)") }
            guard n.isFinite, Swift.abs(n) <= maximumCoordinate * maximumCoordinate else { throw fail(arrayName, entry, key, "\(value.serialized) is not a finite, sensible value") }
            return n
        }
        func integer(_ item: JSONValue, _ key: String, _ arrayName: String, _ entry: String) throws(COCODatasetError) -> Int {
            guard let value = item[key] else { throw fail(arrayName, entry, key, "missing") }
            guard let n = value.intValue else { throw fail(arrayName, entry, key, "must be an integer, got \(value.serialized)") }
            return n
        }

        var images: [Image] = [], imageIndex: [Int: Int] = [:]
        for (index, item) in rawImages.enumerated() {
            let imageId = try id(item, "images", index)
            let entry = "id \(imageId)"
            if let first = imageIndex[imageId] { throw fail("images", entry, "id", "appears twice (entries \(first) and \(index))") }
            guard let fileName = item["file_name"]?.stringValue else { throw fail("images", entry, "file_name", "missing or not a string") }
            let width = try number(item, "width", "images", entry), height = try number(item, "height", "images", entry)
            guard width >= 1, height >= 1, width <= maximumCoordinate, height <= maximumCoordinate, width == width.rounded(), height == height.rounded() else {
                throw fail("images", entry, "width/height", "\(width)×\(height) is not a positive whole size of at most \(Int(maximumCoordinate)) pixels")
            }
            imageIndex[imageId] = index
            images.append(Image(id: imageId, fileName: fileName, width: Int(width), height: Int(height)))
        }

        var categories: [Category] = []
        for (index, item) in rawCategories.enumerated() {
            let categoryId = try id(item, "categories", index)
            if categories.contains(where: { $0.id == categoryId }) { throw fail("categories", "id \(categoryId)", "id", "appears twice") }
            categories.append(Category(id: categoryId, name: item["name"]?.stringValue ?? "\(categoryId)"))
        }
        let categoryIds = Set(categories.map(\.id))

        var annotations: [Annotation] = [], seen = Set<Int>()
        for (index, item) in rawAnnotations.enumerated() {
            let annotationId = try id(item, "annotations", index)
            let entry = "id \(annotationId) (index \(index))"
            guard annotationId != 0 else {
                throw fail("annotations", "index \(index)", "id", "id 0 is treated as 'unmatched' by COCO evaluation, so this box could never count as found; renumber from 1")
            }
            guard seen.insert(annotationId).inserted else { throw fail("annotations", entry, "id", "appears twice") }
            let imageId = try integer(item, "image_id", "annotations", entry)
            guard imageIndex[imageId] != nil else { throw fail("annotations", entry, "image_id", "refers to image \(imageId), which is not in images") }
            let categoryId = try integer(item, "category_id", "annotations", entry)
            guard categoryIds.contains(categoryId) else { throw fail("annotations", entry, "category_id", "\(categoryId) is not listed in categories") }
            guard let boxValue = item["bbox"] else { throw fail("annotations", entry, "bbox", "missing") }
            guard let boxItems = boxValue.arrayValue else { throw fail("annotations", entry, "bbox", "must be an array [x, y, w, h], got \(boxValue.serialized)") }
            guard boxItems.count == 4 else { throw fail("annotations", entry, "bbox", "has \(boxItems.count) numbers, expected 4 [x, y, w, h]") }
            var box: [Double] = []
            for v in boxItems {
                guard case .number = v, let n = v.doubleValue, n.isFinite, Swift.abs(n) <= maximumCoordinate else {
                    throw fail("annotations", entry, "bbox", "\(v.serialized) is not a finite coordinate of at most \(Int(maximumCoordinate)) pixels")
                }
                box.append(n)
            }
            let area = item["area"] == nil ? box[2] * box[3] : try number(item, "area", "annotations", entry)
            var crowd = false
            if let flag = item["iscrowd"] {
                guard let c = flag.intValue, c == 0 || c == 1 else { throw fail("annotations", entry, "iscrowd", "must be 0 or 1, got \(flag.serialized)") }
                crowd = c == 1
            }
            annotations.append(Annotation(id: annotationId, imageId: imageId, categoryId: categoryId, bbox: box, area: area, crowd: crowd))
        }

        let imagesById = Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0) })
        let byImage = Dictionary(grouping: annotations, by: \.imageId)
        let degenerate = annotations.filter { !$0.crowd && COCODataset.clampedBox($0.bbox, imagesById[$0.imageId]!) == nil }.map(\.id)
        var warnings: [String] = []
        if !degenerate.isEmpty {
            let shown = degenerate.prefix(5).map(String.init).joined(separator: ", ")
            warnings.append("\(degenerate.count) degenerate box\(degenerate.count == 1 ? "" : "es") (empty after clamping to the image) left out of training: annotation id\(degenerate.count == 1 ? "" : "s") \(shown)\(degenerate.count > 5 ? ", …" : "")")
        }
        return COCODataset(path: path, images: images, annotations: annotations, categories: categories.sorted { $0.id < $1.id },
                           degenerateAnnotationIds: degenerate, warnings: warnings, imagesById: imagesById, annotationsByImage: byImage)
    }
}
