import Foundation
import Tapestry
import TapestryNN
import Testing
@testable import Training

/// Checkpoints that cannot be lost: chosen and pruned by the trainer's own names, damaged
/// ones passed over or refused by name, saved before the evaluation that could fail.
@Suite(.serialized) struct CheckpointTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-checkpoints-\(UUID().uuidString)").path
    }

    /// A short run of the clusters task with a checkpoint after every step.
    func trainedRun(steps: Int, keep: Int = 3, evaluateFails: Bool = false) throws -> (directory: String, trainer: Trainer) {
        let directory = temporaryDirectory()
        var config = TrainerConfig()
        (config.epochs, config.batchSize, config.checkpointEvery, config.keepCheckpoints, config.evalEvery) = (4, 8, 1, keep, 1)
        let task = DefaultRandom.withGenerator(RandomGenerator(seed: 4)) { ClustersTask() }.0
        task.evaluationFails = evaluateFails
        let trainer = try Trainer(task: task, config: config, modelName: "clusters", settings: "{}", directory: directory)
        (trainer.interactiveProgress, trainer.maxSteps) = (false, steps)
        _ = try trainer.run()
        return (directory, trainer)
    }

    func names(_ paths: [String]) -> [String] { paths.map { ($0 as NSString).lastPathComponent } }

    @Test func onlyTheTrainersOwnFilesAreChosenAndPruned() throws {
        let (directory, trainer) = try trainedRun(steps: 3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let newest = try #require(Checkpoint.latest(in: directory))
        // A user's files that sort after the trainer's, and one with too few digits.
        for stray in ["checkpoint-best.safetensors", "checkpoint-00000002-keep-me.safetensors", "checkpoint-9.safetensors", "checkpoint-0000000x.safetensors"] {
            try FileManager.default.copyItem(atPath: newest, toPath: directory + "/" + stray)
        }
        #expect(Checkpoint.step(inFileName: "checkpoint-123456789.safetensors") == 123_456_789)
        #expect(names(Checkpoint.list(in: directory)) == ["checkpoint-00000001.safetensors", "checkpoint-00000002.safetensors", "checkpoint-00000003.safetensors"])
        #expect(try names([Checkpoint.open(directory).path]) == ["checkpoint-00000003.safetensors"])
        trainer.maxSteps = 2
        _ = try trainer.run()
        #expect(names(Checkpoint.list(in: directory)) == ["checkpoint-00000003.safetensors", "checkpoint-00000004.safetensors", "checkpoint-00000005.safetensors"])
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(["checkpoint-best.safetensors", "checkpoint-00000002-keep-me.safetensors", "checkpoint-9.safetensors"].allSatisfy(kept.contains))
    }

    @Test func aDamagedNewestCheckpointIsPassedOverAndNamed() throws {
        let (directory, _) = try trainedRun(steps: 3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = Checkpoint.list(in: directory)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: files[2]))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: files[2]))
        let opened = try Checkpoint.open(directory)
        #expect(opened.path == files[1] && opened.checkpoint.state.step == 2)
        #expect(opened.skipped.map(\.path) == [files[2]])
        #expect(opened.skipped[0].reason.contains("tensors end at byte"))
        // With every checkpoint damaged, the error lists each one.
        for file in files { try Data("x".utf8).write(to: URL(fileURLWithPath: file)) }
        #expect { try Checkpoint.open(directory) } throws: { error in
            let text = "\(error)"
            return files.allSatisfy { text.contains($0) } && text.contains("no usable checkpoint")
        }
    }

    @Test func everyFlippedByteInTheTensorDataIsCaughtByTheChecksum() throws {
        let (directory, _) = try trainedRun(steps: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try #require(Checkpoint.latest(in: directory))
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let headerLength = original.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let damaged = directory + "/damaged.safetensors"
        var refused = 0
        for position in (8 + headerLength)..<original.count {
            var bytes = original
            bytes[position] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: damaged))
            #expect { try Checkpoint.read(damaged) } throws: { error in
                guard let error = error as? CheckpointError else { return false }
                // A flip may also turn a value into NaN, which is refused by name first.
                return error.reason.contains("no longer match the checksum") || error.reason.contains("holds nan")
            }
            refused += 1
        }
        #expect(refused > 1000)
    }

    @Test func aCheckpointHoldingANaNIsRefusedNamingTheTensor() throws {
        let (directory, _) = try trainedRun(steps: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try #require(Checkpoint.latest(in: directory))
        var checkpoint = try Checkpoint.read(file)
        var weights = try #require(checkpoint.model["3.weight"]).doubles()
        weights[7] = -.infinity
        checkpoint.model["3.weight"] = Tensor(weights, shape: [3, 16], dtype: .float32)
        try checkpoint.write(to: file)            // a valid checksum over a diverged model
        #expect(throws: CheckpointError(path: file, reason: "tensor model.3.weight holds -inf at element 7: the run that wrote it had diverged")) {
            try Checkpoint.read(file)
        }
    }

    @Test func theEpochsCheckpointIsWrittenBeforeItsEvaluation() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: ClustersTask.EvaluationFailure.self) { _ = try trainedRunIn(directory) }
        // One epoch is 6 steps of 8 examples; its checkpoint survived the failed evaluation.
        #expect(names(Checkpoint.list(in: directory)).last == "checkpoint-00000006.safetensors")
    }

    func trainedRunIn(_ directory: String) throws -> Trainer {
        var config = TrainerConfig()
        (config.epochs, config.batchSize, config.evalEvery) = (2, 8, 1)
        let task = ClustersTask()
        task.evaluationFails = true
        let trainer = try Trainer(task: task, config: config, modelName: "clusters", settings: "{}", directory: directory)
        trainer.interactiveProgress = false
        _ = try trainer.run()
        return trainer
    }

    @Test func abandonedTemporaryFilesAreRemovedAndLiveOnesKept() throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A process that has exited, and this (live) one.
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let abandoned = ".checkpoint-00000004.safetensors.tmp-\(finished.processIdentifier)-77"
        let live = ".checkpoint-00000005.safetensors.tmp-1-88"          // pid 1 is always running
        let unrelated = ".notes.tmp-\(finished.processIdentifier)-1"
        for name in [abandoned, live, unrelated] { #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: Data())) }
        #expect(Checkpoint.removeAbandonedTemporaries(in: directory) == [abandoned])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [live, unrelated].sorted())
    }
}

@Suite struct MetricsLogTests {
    @Test func aLineCutOffByACrashIsDroppedBeforeTheNextRecord() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"lo".utf8).write(to: URL(fileURLWithPath: path))
        try MetricsLog(path: path).write(step: 3, ["loss": 1.0])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"step\":1,\"loss\":2.5}\n{\"step\":3,\"loss\":1.0}\n")
        // A file that is a single cut-off line.
        try Data("{\"st".utf8).write(to: URL(fileURLWithPath: path))
        try MetricsLog(path: path).write(step: 4, ["x\"y": .nan])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"step\":4,\"x\\\"y\":\"nan\"}\n")
    }

    @Test func aFullDiskIsATypedError() throws {
        let log = try MetricsLog(path: "/dev/full")
        #expect { try log.write(step: 1, ["loss": 1]) } throws: { error in
            (error as? MetricsLogError)?.reason.contains("No space left on device") == true
        }
    }

    @Test func anUnusableOutputFolderIsNamedWithItsReason() throws {
        #expect(throws: OutputFolderError(path: "/proc/tapestry-test", reason: "cannot be created (No such file or directory)")) {
            try OutputFolder.prepare("/proc/tapestry-test")
        }
        #expect(throws: OutputFolderError(path: "/dev/null", reason: "exists and is not a folder")) { try OutputFolder.prepare("/dev/null") }
    }
}
