import Foundation

/// COCO bounding-box evaluation, computing exactly what pycocotools' `COCOeval(gt, dets,
/// 'bbox')` computes (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014;
/// cocodataset/cocoapi PythonAPI/pycocotools/cocoeval.py), including its conventions:
///
/// - IoU thresholds 0.50:0.05:0.95 and recall points 0:0.01:1 built like `np.linspace`;
/// - area ranges judged by the ground truth's `area` field (detections by w·h), closed at
///   both ends; crowd ground truth (IoU = intersection / detection area) absorbs any number
///   of detections and never counts towards recall;
/// - at most 100 detections per image and category, stable score sorts (ties keep file
///   order; merged across images in ascending image id);
/// - 101-point interpolated precision, made monotone from the right; −1 where undefined.
public struct COCOEvaluation {
    /// The 12 summary numbers in pycocotools' order: AP, AP50, AP75, AP small/medium/large,
    /// AR@1, AR@10, AR@100, AR small/medium/large (all −1 when undefined).
    public let stats: [Double]
    public let perCategory: [CategoryResult]

    public static let statNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]

    public struct CategoryResult: Sendable, Equatable {
        public let categoryId: Int
        public let name: String
        public let ap: Double, ap50: Double, ap75: Double, ar100: Double
        /// Non-crowd ground-truth boxes of this category.
        public let groundTruthCount: Int
    }

    /// pycocotools' `summarize()` text.
    public var summary: String {
        let lines: [(String, String, String, String)] = [
            ("Average Precision", "(AP)", "0.50:0.95", "   all"), ("Average Precision", "(AP)", "0.50", "   all"),
            ("Average Precision", "(AP)", "0.75", "   all"), ("Average Precision", "(AP)", "0.50:0.95", " small"),
            ("Average Precision", "(AP)", "0.50:0.95", "medium"), ("Average Precision", "(AP)", "0.50:0.95", " large"),
            ("Average Recall", "(AR)", "0.50:0.95", "   all"), ("Average Recall", "(AR)", "0.50:0.95", "   all"),
            ("Average Recall", "(AR)", "0.50:0.95", "   all"), ("Average Recall", "(AR)", "0.50:0.95", " small"),
            ("Average Recall", "(AR)", "0.50:0.95", "medium"), ("Average Recall", "(AR)", "0.50:0.95", " large")]
        let maxDets = [100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100]
        return zip(lines, zip(maxDets, stats)).map { line, rest in
            let iou = line.2.count == 4 ? "   \(line.2)  " : line.2
            return String(format: " %@ %@ @[ IoU=%@ | area=%@ | maxDets=%3d ] = %0.3f", line.0.padding(toLength: 18, withPad: " ", startingAt: 0),
                          line.1, iou, line.3, rest.0, rest.1)
        }.joined(separator: "\n")
    }
}

/// A malformed ground-truth or results file, or results that do not fit the ground truth.
public struct COCOError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

extension COCOEvaluation {
    struct Box { let x, y, w, h: Double }
    struct GroundTruth { let id: Int; let image: Int; let category: Int; let box: Box; let area: Double; let crowd: Bool }
    struct Detection { let id: Int; let image: Int; let category: Int; let box: Box; let score: Double; var area: Double { box.w * box.h } }

    /// Evaluates the detections in a COCO results file against a COCO ground-truth file.
    public static func evaluate(groundTruthFile: String, resultsFile: String) throws -> COCOEvaluation {
        let gt = try COCOGroundTruthFile.load(groundTruthFile)
        guard let data = FileManager.default.contents(atPath: resultsFile) else { throw COCOError(file: resultsFile, reason: "cannot read the file") }
        let results: [COCOResult]
        do { results = try JSONDecoder().decode([COCOResult].self, from: data) } catch {
            throw COCOError(file: resultsFile, reason: "not a COCO results list (image_id, category_id, bbox [x, y, w, h], score): \(error)")
        }
        return try evaluate(groundTruth: gt, results: results, resultsName: resultsFile)
    }

    public static func evaluate(groundTruth gt: COCOGroundTruthFile, results: [COCOResult], resultsName: String = "results") throws -> COCOEvaluation {
        let imageIds = gt.images.map(\.id).sorted()
        let known = Set(imageIds)
        if let bad = gt.annotations.first(where: { $0.bbox.count != 4 }) {
            throw COCOError(file: "ground truth", reason: "annotation \(bad.id): bbox must have 4 numbers [x, y, w, h], has \(bad.bbox.count)")
        }
        if let (index, _) = results.enumerated().first(where: { $0.element.bbox.count != 4 || !$0.element.score.isFinite }) {
            throw COCOError(file: resultsName, reason: "detection \(index): bbox must have 4 numbers and score must be finite")
        }
        if let stray = results.first(where: { !known.contains($0.imageId) }) {
            throw COCOError(file: resultsName, reason: "a detection refers to image \(stray.imageId), which the ground truth does not have")
        }
        let categories = gt.categories.sorted { $0.id < $1.id }
        let truths = gt.annotations.map {
            GroundTruth(id: $0.id, image: $0.imageId, category: $0.categoryId, box: Box(x: $0.bbox[0], y: $0.bbox[1], w: $0.bbox[2], h: $0.bbox[3]),
                        area: $0.area, crowd: ($0.iscrowd ?? 0) != 0)
        }
        let detections = results.enumerated().map { i, r in
            Detection(id: i + 1, image: r.imageId, category: r.categoryId, box: Box(x: r.bbox[0], y: r.bbox[1], w: r.bbox[2], h: r.bbox[3]), score: r.score)
        }
        return COCOEvaluator(imageIds: imageIds, categories: categories.map(\.id), truths: truths, detections: detections)
            .run(names: categories.map(\.name))
    }
}

/// `np.linspace(start, stop, count)`: start + i·step with step = (stop − start)/(count − 1),
/// and the last value exactly `stop`.
func numpyLinspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
    let step = (stop - start) / Double(count - 1)
    return (0..<count).map { $0 == count - 1 ? stop : Double($0) * step + start }
}

/// The evaluation proper, as in cocoeval.py: `evaluate` (per image and category),
/// `accumulate` (precision/recall tables) and `summarize`.
struct COCOEvaluator {
    typealias GroundTruth = COCOEvaluation.GroundTruth
    typealias Detection = COCOEvaluation.Detection

    let imageIds: [Int]
    let categories: [Int]
    let iouThresholds = numpyLinspace(0.5, 0.95, 10)
    let recallThresholds = numpyLinspace(0, 1, 101)
    let maxDets = [1, 10, 100]
    let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
    /// Ground truth and detections per (image, category), in file order.
    let truthsByKey: [Key: [GroundTruth]]
    let detectionsByKey: [Key: [Detection]]

    struct Key: Hashable { let image: Int; let category: Int }

    init(imageIds: [Int], categories: [Int], truths: [GroundTruth], detections: [Detection]) {
        self.imageIds = imageIds
        self.categories = categories
        truthsByKey = Dictionary(grouping: truths) { Key(image: $0.image, category: $0.category) }
        detectionsByKey = Dictionary(grouping: detections) { Key(image: $0.image, category: $0.category) }
    }

    /// What one (image, category, area range) contributes: per IoU threshold, which
    /// detections matched and which are ignored.
    struct ImageResult {
        var scores: [Double]
        var matched: [[Bool]]        // [T][D]
        var ignoredDetections: [[Bool]]
        var ignoredTruths: [Bool]
    }

    /// pycocotools' bbox IoU: crowd ground truth divides by the detection's area only.
    static func iou(_ d: COCOEvaluation.Box, _ g: COCOEvaluation.Box, crowd: Bool) -> Double {
        let w = min(d.x + d.w, g.x + g.w) - max(d.x, g.x)
        let h = min(d.y + d.h, g.y + g.h) - max(d.y, g.y)
        guard w > 0 && h > 0 else { return 0 }
        let intersection = w * h
        let union = crowd ? d.w * d.h : d.w * d.h + g.w * g.h - intersection
        return intersection / union
    }

    /// Detections sorted by score (stable), at most the largest maxDets.
    func sortedDetections(_ key: Key) -> [Detection] {
        let detections = detectionsByKey[key] ?? []
        let order = detections.indices.sorted { (detections[$0].score, $1) > (detections[$1].score, $0) }
        return Array(order.prefix(maxDets.last!).map { detections[$0] })
    }

    func evaluateImage(_ key: Key, _ area: (Double, Double), _ maxDet: Int) -> ImageResult? {
        let truths = truthsByKey[key] ?? []
        let all = sortedDetections(key)
        guard !truths.isEmpty || !all.isEmpty else { return nil }
        // Regular ground truth first (stable), then crowd and out-of-range ones.
        let ignore = truths.map { $0.crowd || $0.area < area.0 || $0.area > area.1 }
        let order = truths.indices.filter { !ignore[$0] } + truths.indices.filter { ignore[$0] }
        let gt = order.map { truths[$0] }, gtIgnored = order.map { ignore[$0] }
        let dt = Array(all.prefix(maxDet))
        let ious = dt.map { d in gt.map { COCOEvaluator.iou(d.box, $0.box, crowd: $0.crowd) } }
        var matched = [[Bool]](repeating: [Bool](repeating: false, count: dt.count), count: iouThresholds.count)
        var ignored = matched
        for (t, threshold) in iouThresholds.enumerated() {
            var gtMatched = [Bool](repeating: false, count: gt.count)
            for (di, _) in dt.enumerated() where !gt.isEmpty {
                var best = min(threshold, 1 - 1e-10)
                var m = -1
                for gi in gt.indices {
                    if gtMatched[gi] && !gt[gi].crowd { continue }
                    if m > -1 && !gtIgnored[m] && gtIgnored[gi] { break }
                    if ious[di][gi] < best { continue }
                    best = ious[di][gi]
                    m = gi
                }
                guard m > -1 else { continue }
                ignored[t][di] = gtIgnored[m]
                matched[t][di] = true
                gtMatched[m] = true
            }
            // Unmatched detections outside the area range are ignored, not false positives.
            for (di, d) in dt.enumerated() where !matched[t][di] && (d.area < area.0 || d.area > area.1) { ignored[t][di] = true }
        }
        return ImageResult(scores: dt.map(\.score), matched: matched, ignoredDetections: ignored, ignoredTruths: gtIgnored)
    }

    func run(names: [String]) -> COCOEvaluation {
        let (tCount, rCount, kCount, aCount, mCount) = (iouThresholds.count, recallThresholds.count, categories.count, areaRanges.count, maxDets.count)
        // precision[t][r][k][a][m] and recall[t][k][a][m], −1 where undefined.
        var precision = [Double](repeating: -1, count: tCount * rCount * kCount * aCount * mCount)
        var recall = [Double](repeating: -1, count: tCount * kCount * aCount * mCount)
        func pIndex(_ t: Int, _ r: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { (((t * rCount + r) * kCount + k) * aCount + a) * mCount + m }
        func rIndex(_ t: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { ((t * kCount + k) * aCount + a) * mCount + m }

        for (k, category) in categories.enumerated() {
            for (a, area) in areaRanges.enumerated() {
                let images = imageIds.compactMap { evaluateImage(Key(image: $0, category: category), area, maxDets.last!) }
                guard !images.isEmpty else { continue }
                let regular = images.reduce(0) { $0 + $1.ignoredTruths.filter { !$0 }.count }
                guard regular > 0 else { continue }
                for (m, maxDet) in maxDets.enumerated() {
                    // Concatenate images in id order, then sort by score (stable).
                    var entries: [(score: Double, image: Int, slot: Int)] = []
                    for (i, image) in images.enumerated() {
                        for slot in 0..<min(maxDet, image.scores.count) { entries.append((image.scores[slot], i, slot)) }
                    }
                    let order = entries.indices.sorted { (entries[$0].score, $1) > (entries[$1].score, $0) }
                    for t in 0..<tCount {
                        var tp = 0.0, fp = 0.0
                        var recalls: [Double] = [], precisions: [Double] = []
                        for e in order.map({ entries[$0] }) {
                            let image = images[e.image]
                            guard !image.ignoredDetections[t][e.slot] else {
                                recalls.append(tp / Double(regular)); precisions.append(tp / (fp + tp + 2.220446049250313e-16)); continue
                            }
                            if image.matched[t][e.slot] { tp += 1 } else { fp += 1 }
                            recalls.append(tp / Double(regular))
                            precisions.append(tp / (fp + tp + 2.220446049250313e-16))
                        }
                        recall[rIndex(t, k, a, m)] = recalls.last ?? 0
                        for i in stride(from: precisions.count - 1, to: 0, by: -1) where precisions[i] > precisions[i - 1] {
                            precisions[i - 1] = precisions[i]
                        }
                        // First point with recall ≥ each threshold; 0 beyond the curve.
                        var cursor = 0
                        for (r, threshold) in recallThresholds.enumerated() {
                            while cursor < recalls.count && recalls[cursor] < threshold { cursor += 1 }
                            precision[pIndex(t, r, k, a, m)] = cursor < recalls.count ? precisions[cursor] : 0
                        }
                    }
                }
            }
        }

        func mean(_ values: [Double]) -> Double {
            let valid = values.filter { $0 > -1 }
            return valid.isEmpty ? -1 : valid.reduce(0, +) / Double(valid.count)
        }
        func averagePrecision(threshold: Double? = nil, area: Int = 0, maxDet: Int = 2, categories ks: [Int]? = nil) -> Double {
            let ts = threshold.map { th in iouThresholds.indices.filter { iouThresholds[$0] == th } } ?? Array(0..<tCount)
            return mean(ts.flatMap { t in (0..<rCount).flatMap { r in (ks ?? Array(0..<kCount)).map { precision[pIndex(t, r, $0, area, maxDet)] } } })
        }
        func averageRecall(area: Int = 0, maxDet: Int = 2, categories ks: [Int]? = nil) -> Double {
            mean((0..<tCount).flatMap { t in (ks ?? Array(0..<kCount)).map { recall[rIndex(t, $0, area, maxDet)] } })
        }
        let stats = [averagePrecision(), averagePrecision(threshold: 0.5), averagePrecision(threshold: 0.75),
                     averagePrecision(area: 1), averagePrecision(area: 2), averagePrecision(area: 3),
                     averageRecall(maxDet: 0), averageRecall(maxDet: 1), averageRecall(),
                     averageRecall(area: 1), averageRecall(area: 2), averageRecall(area: 3)]
        let perCategory = categories.enumerated().map { k, id in
            COCOEvaluation.CategoryResult(
                categoryId: id, name: names[k], ap: averagePrecision(categories: [k]), ap50: averagePrecision(threshold: 0.5, categories: [k]),
                ap75: averagePrecision(threshold: 0.75, categories: [k]), ar100: averageRecall(categories: [k]),
                groundTruthCount: truthsByKey.filter { $0.key.category == id }.reduce(0) { $0 + $1.value.filter { !$0.crowd }.count })
        }
        return COCOEvaluation(stats: stats, perCategory: perCategory)
    }
}

/// A COCO-format ground-truth file: images, annotations and categories.
public struct COCOGroundTruthFile: Codable, Sendable {
    public struct Image: Codable, Sendable {
        public var id: Int
        public var fileName: String?
        public var width: Int?
        public var height: Int?
        enum CodingKeys: String, CodingKey { case id, width, height, fileName = "file_name" }
    }
    public struct Annotation: Codable, Sendable {
        public var id: Int
        public var imageId: Int
        public var categoryId: Int
        public var bbox: [Double]
        public var area: Double
        public var iscrowd: Int?
        enum CodingKeys: String, CodingKey { case id, bbox, area, iscrowd, imageId = "image_id", categoryId = "category_id" }
    }
    public struct Category: Codable, Sendable {
        public var id: Int
        public var name: String
    }
    public var images: [Image]
    public var annotations: [Annotation]
    public var categories: [Category]

    public static func load(_ path: String) throws -> COCOGroundTruthFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw COCOError(file: path, reason: "cannot read the file") }
        do { return try JSONDecoder().decode(COCOGroundTruthFile.self, from: data) } catch {
            throw COCOError(file: path, reason: "not a COCO annotation file: \(error)")
        }
    }
}

/// One detection of a COCO results file.
public struct COCOResult: Codable, Sendable {
    public var imageId: Int
    public var categoryId: Int
    public var bbox: [Double]
    public var score: Double
    enum CodingKeys: String, CodingKey { case bbox, score, imageId = "image_id", categoryId = "category_id" }
    public init(imageId: Int, categoryId: Int, bbox: [Double], score: Double) {
        (self.imageId, self.categoryId, self.bbox, self.score) = (imageId, categoryId, bbox, score)
    }
}
