import ArgumentParser
import Foundation
import Training
import Zoo

/// An official PyTorch checkpoint as a zoo checkpoint: read natively (nothing in it run),
/// loaded by name into the zoo model, written with the model's settings so that zoo eval,
/// predict and export take it.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a PyTorch checkpoint (.pth, zip or legacy format) into a zoo checkpoint.",
        discussion: """
            The model is built with its paper defaults (the settings the official checkpoints were trained with), \
            changed by --config and --set. The file's state dict (or the one under "model" or "state_dict") must \
            name exactly the model's parameters and buffers; the error lists the missing and unexpected keys.
            """)

    @Argument(help: "The PyTorch checkpoint.")
    var checkpoint: String

    @Option(help: "The zoo model the checkpoint is for (see zoo models).")
    var model: String

    @Option(help: "The zoo checkpoint to write (default: the input's name with .safetensors).")
    var output: String?

    @OptionGroup var settingsOptions: SettingsOptions

    func run() throws {
        do {
            let settings = try ZooRun.settings(model: model, shapes: false, configFile: settingsOptions.config, assignments: settingsOptions.assignments)
            let converted = try ZooRun.convert(pyTorchCheckpoint: checkpoint, model: model, settings: settings)
            let destination = output ?? ((checkpoint as NSString).deletingPathExtension + ".safetensors")
            try converted.write(to: destination)
            print("wrote \(destination): \(model) with \(converted.model.count) tensors from \(checkpoint)")
        } catch {
            fail("\(error)")
        }
    }
}
