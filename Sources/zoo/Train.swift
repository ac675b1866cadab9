import ArgumentParser
import Detection
import Foundation
import Tapestry
import Training
import Zoo

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a zoo model (on the embedded shapes dataset when no data is named).",
        discussion: """
            Settings come in layers: the model's defaults (a small preset for the shapes dataset, the paper's \
            otherwise), then --config FILE (JSON: {"model": {...}, "trainer": {...}, ...}), then each --set. \
            `zoo models --config` lists every key. Checkpoints, metrics.jsonl and TensorBoard events go to \
            --output; --resume continues from its newest checkpoint. Ctrl-C (or SIGTERM, SIGHUP) finishes the step, saves and exits 130 (143, 129).
            """)

    @Argument(help: "The model (see zoo models).")
    var model: String

    @Option(help: "COCO-format dataset folder: annotations/{train,val}.json with train/ and val/ (or COCO 2017's names).")
    var data: String?

    @OptionGroup var settingsOptions: SettingsOptions

    @Option(help: "Folder for checkpoints and logs (default runs/<model>).")
    var output: String?

    @Option(help: "Stop after this many steps in this run.")
    var maxSteps: Int?

    @Option(help: "Stop after the step that passes this many minutes.")
    var maxMinutes: Double?

    @Flag(help: "Continue from the newest checkpoint in the output folder.")
    var resume = false

    @Flag(help: "Keep subnormal numbers (IEEE gradual underflow, PyTorch's default) instead of flushing them to zero: gemms that read subnormals run 30–50× slower.")
    var keepSubnormals = false

    func validate() throws {
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
        if let maxMinutes, !(maxMinutes > 0) { throw ValidationError("--max-minutes must be positive") }
    }

    func run() throws {
        let output = self.output ?? "runs/\(model)"
        do {
            var settings = try ZooRun.settings(model: model, shapes: data == nil, configFile: settingsOptions.config,
                                               assignments: (data.map { ["data.path=\($0)"] } ?? []) + settingsOptions.assignments)
            try OutputFolder.prepare(output)
            var checkpoint: Checkpoint.Opened?
            if !resume, let existing = Checkpoint.latest(in: output) {
                fail("\(output) already holds a run (\((existing as NSString).lastPathComponent)): add --resume to continue it, or choose another --output")
            }
            if resume {
                guard Checkpoint.latest(in: output) != nil else { fail("--resume: no checkpoint in \(output)") }
                let opened = try Checkpoint.open(output)
                for skipped in opened.skipped { warn("passed over \(skipped)") }
                let stored = try ZooRun.settings(model: model, stored: opened.checkpoint.settings)
                if settingsOptions.config != nil || !settingsOptions.assignments.isEmpty || data != nil {
                    let changed = settings.differences(from: stored).filter { !$0.hasPrefix("model.num_classes") }
                    guard changed.isEmpty else { fail("--resume: \(opened.path) was trained with other settings:\n  " + changed.joined(separator: "\n  ")) }
                }
                (settings, checkpoint) = (stored, opened)
            }
            DefaultRandom.manualSeed(try settings.decode(TrainerConfig.self, section: "trainer").seed)
            let (task, dataDescription) = try ZooRun.prepare(model: model, settings: &settings, log: say)
            let trainerConfig = try settings.decode(TrainerConfig.self, section: "trainer")
            // A resumed run keeps its checkpoint's settings text, so that checkpoints written
            // before a setting was added (and read with its default) still resume.
            let trainer = try Trainer(task: task, config: trainerConfig, modelName: model, settings: checkpoint?.checkpoint.settings ?? settings.json,
                                      directory: output)
            (trainer.maxSteps, trainer.timeLimit) = (maxSteps, maxMinutes.map { $0 * 60 })
            trainer.flushesSubnormals = !keepSubnormals
            if let checkpoint {
                try trainer.resume(from: checkpoint.checkpoint, path: checkpoint.path)
                say("resuming from \(checkpoint.path) at step \(trainer.state.step)")
            }
            say("""
                \(model): \(task.model.parameterCount(trainableOnly: true)) trainable parameters; \(dataDescription)
                \(trainer.stepsPerEpoch) steps per epoch × \(trainerConfig.epochs) epochs = \(trainer.totalSteps) steps\
                \(maxSteps.map { ", stopping after \($0) in this run" } ?? "")\(maxMinutes.map { ", or after \($0) minutes" } ?? ""); output in \(output)
                """)
            Interrupt.install()
            let summary = try trainer.run()
            if let first = summary.firstLoss, let last = summary.lastLoss {
                say(String(format: "loss %.4f → %.4f over steps %d–%d", first, last, summary.firstStep, summary.lastStep))
            }
            for (label, metrics) in [("untrained", summary.initialEvaluation), ("trained", summary.evaluation)] {
                if let metrics, let ap = metrics["AP"], let ap50 = metrics["AP50"] { say(String(format: "%@ AP %.3f  AP50 %.3f", label, ap, ap50)) }
                if let metrics, let top1 = metrics["top1"], let top5 = metrics["top5"] { say(String(format: "%@ top-1 %.3f  top-5 %.3f", label, top1, top5)) }
            }
            say("checkpoint: \(summary.checkpoint ?? "none")")
        } catch let error as TrainingError {
            if case .interrupted = error { FileHandle.standardError.write(Data("zoo: \(error)\n".utf8)); throw ExitCode(Interrupt.exitStatus) }
            fail("\(error)")
        } catch {
            fail("\(error)")
        }
    }
}

/// Prints a line at once (unbuffered, like the trainer's progress lines, so logs keep their order).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
