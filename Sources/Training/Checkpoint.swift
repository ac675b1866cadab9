import Foundation
import Tapestry
import TapestryNN

/// Where the trainer is in its run: enough, with the parameters and optimizer moments, to
/// continue as if it had never stopped.
public struct TrainerState: Codable, Sendable, Equatable {
    /// Optimizer steps taken.
    public var step = 0
    /// The epoch in progress, from 0.
    public var epoch = 0
    /// Steps already taken within `epoch`.
    public var position = 0
    /// The default generator (dropout masks) after `step` steps.
    public var random = RandomGenerator(seed: 0)
    public init() {}
}

/// A training checkpoint: one safetensors file holding the model's state dict under
/// `model.`, the optimizer's under `optimizer.`, and in its metadata the trainer state, the
/// run's settings, the model's name and (for people reading the file) the learning-rate
/// schedule with each parameter group's current rate.
public struct Checkpoint {
    public var modelName: String
    public var settings: String
    public var state: TrainerState
    public var model: [String: Tensor]
    public var optimizer: [String: Tensor]
    /// The schedule and the groups' current learning rates, as JSON; informational (the
    /// trainer derives both from the settings and the step).
    public var schedule: String?

    static let modelPrefix = "model.", optimizerPrefix = "optimizer."

    public init(modelName: String, settings: String, state: TrainerState, model: [(String, Tensor)], optimizer: [(String, Tensor)]) {
        (self.modelName, self.settings, self.state) = (modelName, settings, state)
        self.model = Dictionary(model, uniquingKeysWith: { a, _ in a })
        self.optimizer = Dictionary(optimizer, uniquingKeysWith: { a, _ in a })
    }

    /// The file name of the checkpoint after `step` steps; names sort by step.
    public static func fileName(step: Int) -> String { String(format: "checkpoint-%08d.safetensors", step) }

    /// Writes the checkpoint atomically (a crash leaves the previous file intact).
    public func write(to path: String) throws {
        let tensors = model.sorted { $0.key < $1.key }.map { (name: Self.modelPrefix + $0.key, tensor: $0.value) }
            + optimizer.sorted { $0.key < $1.key }.map { (name: Self.optimizerPrefix + $0.key, tensor: $0.value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = ["tapestry.model": modelName, "tapestry.settings": settings,
                        "tapestry.trainer": String(decoding: try encoder.encode(state), as: UTF8.self)]
        metadata["tapestry.schedule"] = schedule
        try SafetensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// Reads a checkpoint, refusing a file that is not one (naming what is missing).
    public static func read(_ path: String) throws -> Checkpoint {
        let file = try SafetensorsFile.read(path)
        func meta(_ key: String) throws(CheckpointError) -> String {
            guard let value = file.metadata[key] else { throw CheckpointError(path: path, reason: "not a training checkpoint: metadata key \(key) is missing") }
            return value
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: Data(try meta("tapestry.trainer").utf8)) } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(path: path, reason: "metadata key tapestry.trainer is malformed: \(error)")
        }
        var model: [(String, Tensor)] = [], optimizer: [(String, Tensor)] = [], stray: [String] = []
        for (name, tensor) in file.tensors {
            if name.hasPrefix(modelPrefix) { model.append((String(name.dropFirst(modelPrefix.count)), tensor)) }
            else if name.hasPrefix(optimizerPrefix) { optimizer.append((String(name.dropFirst(optimizerPrefix.count)), tensor)) }
            else { stray.append(name) }
        }
        guard stray.isEmpty else { throw CheckpointError(path: path, reason: "tensors outside model./optimizer.: \(stray.prefix(5).joined(separator: ", "))") }
        var checkpoint = Checkpoint(modelName: try meta("tapestry.model"), settings: try meta("tapestry.settings"), state: state, model: model, optimizer: optimizer)
        checkpoint.schedule = file.metadata["tapestry.schedule"]
        return checkpoint
    }

    /// Checkpoints in `directory`, oldest first.
    public static func list(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".safetensors") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// The newest checkpoint in `directory`.
    public static func latest(in directory: String) -> String? { list(in: directory).last }

    /// `path` itself when it is a file, or the newest checkpoint in it when it is a run folder.
    public static func resolve(_ path: String) throws(CheckpointError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        guard let newest = latest(in: path) else { throw CheckpointError(path: path, reason: "no checkpoint-*.safetensors in this folder") }
        return newest
    }

    /// Deletes all but the newest `keep` checkpoints in `directory`.
    static func prune(_ directory: String, keep: Int) {
        for old in list(in: directory).dropLast(keep) { try? FileManager.default.removeItem(atPath: old) }
    }

    /// Loads the model part into `module`, refusing any mismatch (naming the keys).
    public func restore(into module: Module, path: String) throws {
        let report = module.load(model, strict: true)
        guard report.isClean else { throw CheckpointError(path: path, reason: "does not fit the model: \(report)") }
    }
}

/// A checkpoint that cannot be used, and why.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { (self.path, self.reason) = (path, reason) }
    public var description: String { "\(path): \(reason)" }
}
