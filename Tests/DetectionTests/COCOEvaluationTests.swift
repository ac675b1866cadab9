import Foundation
import Testing
@testable import Detection

@Suite struct COCOEvaluationParity {
    struct Expected: Decodable {
        let stats: [Double]
        let perCategory: [Category]
        struct Category: Decodable { let category_id: Int; let AP: Double; let AP50: Double; let AP75: Double; let AR100: Double; let num_gt: Int }
        enum CodingKeys: String, CodingKey { case stats, perCategory = "per_category" }
    }

    @Test func reproducesPycocotools() throws {
        let evaluation = try COCOEvaluation.evaluate(groundTruthFile: fixturePath("coco-eval/gt.json"), resultsFile: fixturePath("coco-eval/dets.json"))
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("coco-eval/expected.json"))))
        // Counts first: zip stops at the shorter side, so an evaluator returning nothing would pass.
        #expect(expected.stats.count == 12 && evaluation.stats.count == expected.stats.count)
        #expect(!expected.perCategory.isEmpty && evaluation.perCategory.count == expected.perCategory.count)
        for (i, (ours, theirs)) in zip(evaluation.stats, expected.stats).enumerated() {
            #expect(Swift.abs(ours - theirs) < 1e-12, "\(COCOEvaluation.statNames[i]): \(ours) vs \(theirs)")
        }
        for (ours, theirs) in zip(evaluation.perCategory, expected.perCategory) {
            #expect(ours.categoryId == theirs.category_id && ours.groundTruthCount == theirs.num_gt)
            #expect(Swift.abs(ours.ap - theirs.AP) < 1e-12 && Swift.abs(ours.ap50 - theirs.AP50) < 1e-12
                    && Swift.abs(ours.ap75 - theirs.AP75) < 1e-12 && Swift.abs(ours.ar100 - theirs.AR100) < 1e-12, "category \(ours.categoryId)")
        }
    }

    @Test func perfectAndEmptyDetections() throws {
        let gt = COCOGroundTruthFile(
            images: [.init(id: 1), .init(id: 2)],
            annotations: [.init(id: 1, imageId: 1, categoryId: 3, bbox: [10, 10, 50, 40], area: 2000, iscrowd: 0),
                          .init(id: 2, imageId: 2, categoryId: 3, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0)],
            categories: [.init(id: 3, name: "box")])
        let perfect = try COCOEvaluation.evaluate(groundTruth: gt, results: [
            COCOResult(imageId: 1, categoryId: 3, bbox: [10, 10, 50, 40], score: 0.9),
            COCOResult(imageId: 2, categoryId: 3, bbox: [0, 0, 20, 20], score: 0.8)])
        #expect(perfect.stats[0] == 1 && perfect.stats[1] == 1 && perfect.stats[8] == 1)
        #expect(perfect.stats[5] == -1, "no large boxes: undefined")
        let none = try COCOEvaluation.evaluate(groundTruth: gt, results: [])
        #expect(none.stats[0] == 0 && none.stats[8] == 0)
        #expect(throws: COCOError.self) {
            try COCOEvaluation.evaluate(groundTruth: gt, results: [COCOResult(imageId: 9, categoryId: 3, bbox: [0, 0, 1, 1], score: 1)])
        }
    }
}
