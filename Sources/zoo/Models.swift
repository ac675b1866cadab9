import ArgumentParser
import Foundation
import TapestryNN
import Training
import Zoo

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the zoo's models, one line each.",
        discussion: """
            --summary adds every model's parameter count at the paper's settings and, for the classifiers, the \
            paper's comparison: parameters and multiply-adds per image of SASA-ResNet (conv stem and attention stem) \
            and the convolutional ResNet at depths 26, 38 and 50, in the ImageNet layout (1000 classes) at --size and \
            in upstream's CIFAR layout (10 classes) at 32 pixels.
            """)

    @Flag(help: "Also print each model's default settings (JSON by section, the original code's argument names): the paper's, then the shapes preset.")
    var config = false

    @Flag(help: "Also print parameter counts, and the classifiers' parameters and multiply-adds side by side.")
    var summary = false

    @Option(help: "Image side for the ImageNet-layout multiply-adds of --summary.")
    var size = 224

    func validate() throws {
        if size < 32 { throw ValidationError("--size must be at least 32") }
    }

    func run() throws {
        let width = Registry.names.map(\.count).max() ?? 0
        for entry in Registry.models {
            print("\(entry.name.padding(toLength: width + 1, withPad: " ", startingAt: 0)) \(entry.summary) — \(entry.paper)")
            if config {
                print("  paper:  \(try Settings(defaults: entry.defaults(false)).json)")
                print("  shapes: \(try Settings(defaults: entry.defaults(true)).json)")
            }
            if summary {
                let parameters = try entry.buildModel(try ZooRun.settings(model: entry.name, shapes: false)).parameterCount(trainableOnly: false)
                print(String(format: "  %.2f M parameters with the paper's settings", Double(parameters) / 1e6))
            }
        }
        guard summary else { return }
        for (layout, side, classes) in [("imagenet", size, 1000), ("cifar", 32, 10)] {
            print("\n\(layout == "imagenet" ? "ImageNet" : "CIFAR") layout, \(classes) classes, \(side)×\(side) images:")
            print("depth      model                     parameters   multiply-adds   (SASA / conv)")
            for (depth, blocks) in [("ResNet-26", "[1,2,4,1]"), ("ResNet-38", "[2,3,5,2]"), ("ResNet-50", "[3,4,6,3]")] {
                let common = ["num_blocks=\(blocks)", "layout=\(layout)", "num_classes=\(classes)"]
                let conv = try cost("resnet", common, side: side)
                for (label, model, extra) in [("resnet (3×3 conv)", "resnet", [String]()), ("sasa-resnet, conv stem", "sasa-resnet", ["stem=conv"]),
                                              ("sasa-resnet, attn stem", "sasa-resnet", ["stem=attention"])] {
                    let (parameters, multiplyAdds) = try cost(model, common + extra, side: side)
                    let ratio = model == "resnet" ? "" : String(format: "   (%.2f / %.2f)", Double(parameters) / Double(conv.parameters), Double(multiplyAdds) / Double(conv.multiplyAdds))
                    print(String(format: "%@  %@  %8.2f M  %10.2f G%@", depth, label.padding(toLength: 24, withPad: " ", startingAt: 0),
                                 Double(parameters) / 1e6, Double(multiplyAdds) / 1e9, ratio))
                }
            }
        }
    }

    /// Parameters and multiply-adds per image of a classifier at the paper's settings with `assignments`.
    func cost(_ model: String, _ assignments: [String], side: Int) throws -> (parameters: Int, multiplyAdds: Int) {
        let settings = try ZooRun.settings(model: model, shapes: false, assignments: assignments)
        guard let network = try Registry.entry(named: model).buildClassifier(settings) as? StandAloneResNet else {
            throw ValidationError("\(model) is not a StandAloneResNet")
        }
        return (network.parameterCount(trainableOnly: false), network.multiplyAdds(height: side, width: side))
    }
}
