import ArgumentParser
import Detection
import Foundation

struct EvalCOCO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-coco",
        abstract: "COCO bounding-box evaluation of a results file, exactly as pycocotools computes it.")

    @Option(help: "COCO ground-truth annotation JSON.")
    var gt: String

    @Option(help: "COCO results JSON (a list of {image_id, category_id, bbox, score}).")
    var results: String

    @Flag(help: "Print a JSON object whose `stats` holds the 12 numbers in pycocotools' order.")
    var json = false

    func run() throws {
        let evaluation: COCOEvaluation
        do { evaluation = try COCOEvaluation.evaluate(groundTruthFile: gt, resultsFile: results) } catch { fail("\(error)") }
        if json {
            let object: [String: Any] = [
                "stats": evaluation.stats,
                "stats_names": COCOEvaluation.statNames,
                "per_category": evaluation.perCategory.map {
                    ["category_id": $0.categoryId, "name": $0.name, "AP": $0.ap, "AP50": $0.ap50, "AP75": $0.ap75, "AR100": $0.ar100, "num_gt": $0.groundTruthCount]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(evaluation.summary)
            print("\nper category (IoU 0.50:0.95, area all, 100 detections):")
            for c in evaluation.perCategory {
                print("  " + c.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                      + String(format: " AP %.3f  AP50 %.3f  AP75 %.3f  AR100 %.3f  (%d boxes)", c.ap, c.ap50, c.ap75, c.ar100, c.groundTruthCount))
            }
        }
    }
}
