import ArgumentParser
import Foundation
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model for sharing: parameters, buffers and settings, without optimizer state.",
        discussion: "The result works with zoo eval and zoo predict (not --resume), at a third of the size.")

    @Argument(help: "A checkpoint file, or a run folder (its newest checkpoint is used).")
    var checkpoint: String

    @Option(help: "The file to write.")
    var output: String

    func run() throws {
        do {
            let opened = try Checkpoint.open(checkpoint)
            for skipped in opened.skipped { warn("passed over \(skipped)") }
            var loaded = opened.checkpoint
            loaded.optimizer = [:]
            try loaded.write(to: output)
            print("wrote \(output): \(loaded.modelName) after \(loaded.state.step) steps, \(loaded.model.count) tensors")
        } catch {
            fail("\(error)")
        }
    }
}
