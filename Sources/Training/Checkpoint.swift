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

    /// Writes the checkpoint atomically (a crash leaves the previous file intact), with a
    /// checksum of its tensors in the metadata.
    public func write(to path: String) throws {
        let tensors = model.sorted { $0.key < $1.key }.map { (name: Self.modelPrefix + $0.key, tensor: $0.value) }
            + optimizer.sorted { $0.key < $1.key }.map { (name: Self.optimizerPrefix + $0.key, tensor: $0.value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = ["tapestry.model": modelName, "tapestry.settings": settings,
                        "tapestry.trainer": String(decoding: try encoder.encode(state), as: UTF8.self)]
        metadata["tapestry.schedule"] = schedule
        metadata["tapestry.checksum"] = Self.checksum(tensors)
        try SafetensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// Reads a checkpoint, refusing a file that is not one (naming what is missing), one
    /// whose tensors no longer match their checksum, and one holding a NaN or infinity.
    public static func read(_ path: String) throws -> Checkpoint {
        try Checkpoint(file: try SafetensorsFile.read(path), path: path)
    }

    /// The checkpoint in a safetensors file already read from `path`, checked as `read` does.
    public init(file: SafetensorsFile, path: String) throws {
        if let stored = file.metadata["tapestry.checksum"], case let computed = Self.checksum(file.tensors), stored != computed {
            throw CheckpointError(path: path, reason: "damaged: its tensors no longer match the checksum written with them (stored \(stored), now \(computed))")
        }
        for (name, tensor) in file.tensors.sorted(by: { $0.name < $1.name }) {
            if let (index, value) = tensor.firstNonFinite {
                throw CheckpointError(path: path, reason: "tensor \(name) holds \(value) at element \(index): the run that wrote it had diverged")
            }
        }
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
            if name.hasPrefix(Self.modelPrefix) { model.append((String(name.dropFirst(Self.modelPrefix.count)), tensor)) }
            else if name.hasPrefix(Self.optimizerPrefix) { optimizer.append((String(name.dropFirst(Self.optimizerPrefix.count)), tensor)) }
            else { stray.append(name) }
        }
        guard stray.isEmpty else { throw CheckpointError(path: path, reason: "tensors outside model./optimizer.: \(stray.prefix(5).joined(separator: ", "))") }
        self.init(modelName: try meta("tapestry.model"), settings: try meta("tapestry.settings"), state: state, model: model, optimizer: optimizer)
        schedule = file.metadata["tapestry.schedule"]
    }

    /// The step in a name the trainer wrote (`checkpoint-` and eight or more digits), or nil
    /// for any other name, such as a user's `checkpoint-best.safetensors`.
    public static func step(inFileName name: String) -> Int? {
        guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors") else { return nil }
        let digits = name.dropFirst("checkpoint-".count).dropLast(".safetensors".count)
        guard digits.count >= 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    /// The checkpoints the trainer wrote in `directory`, oldest first. Files it did not
    /// write are never chosen, resumed from or pruned.
    public static func list(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name in step(inFileName: name).map { (step: $0, name: name) } }
            .sorted { $0.step < $1.step }
            .map { (directory as NSString).appendingPathComponent($0.name) }
    }

    /// The newest checkpoint the trainer wrote in `directory`.
    public static func latest(in directory: String) -> String? { list(in: directory).last }

    /// A checkpoint ready to use, and the newer ones passed over because they could not be read.
    public struct Opened {
        public var path: String
        public var checkpoint: Checkpoint
        public var skipped: [CheckpointError]
    }

    /// Reads `path` when it is a file; when it is a run folder, the newest of its checkpoints
    /// that reads completely (a run killed while its disk filled may leave a damaged newest
    /// one), listing the ones passed over.
    public static func open(_ path: String) throws -> Opened {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(path: path, reason: "no such file or folder")
        }
        guard isDirectory.boolValue else { return Opened(path: path, checkpoint: try read(path), skipped: []) }
        var skipped: [CheckpointError] = []
        for candidate in list(in: path).reversed() {
            do { return Opened(path: candidate, checkpoint: try read(candidate), skipped: skipped) } catch {
                skipped.append(error as? CheckpointError ?? CheckpointError(path: candidate, reason: (error as? SafetensorsError)?.reason ?? "\(error)"))
            }
        }
        let why = skipped.isEmpty ? "" : "; none of its checkpoints can be read:\n  " + skipped.map(\.description).joined(separator: "\n  ")
        throw CheckpointError(path: path, reason: "no usable checkpoint-<step>.safetensors in this folder" + why)
    }

    /// Deletes all but the newest `keep` checkpoints the trainer wrote in `directory`.
    static func prune(_ directory: String, keep: Int) {
        for old in list(in: directory).dropLast(keep) { try? FileManager.default.removeItem(atPath: old) }
    }

    /// Deletes the temporary files of checkpoint writes whose process was killed, and
    /// returns their names.
    @discardableResult
    static func removeAbandonedTemporaries(in directory: String) -> [String] {
        AtomicFile.removeAbandonedTemporaries(in: directory) { step(inFileName: $0) != nil }
    }

    /// A digest of the tensors' names, element types, shapes and bytes (FNV-1a over 64-bit
    /// words): any changed byte changes it.
    static func checksum(_ tensors: [(name: String, tensor: Tensor)]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x0000_0100_0000_01b3 }
        func mix(_ bytes: UnsafeRawBufferPointer) {
            let words = bytes.count / 8
            for i in 0..<words { mix(bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
            var tail: UInt64 = 0
            for i in (8 * words)..<bytes.count { tail = tail << 8 | UInt64(bytes[i]) }
            mix(tail ^ UInt64(bytes.count) << 56)
        }
        for (name, tensor) in tensors {
            let description = "\(name):\(tensor.dtype):\(tensor.shape)"
            Array(description.utf8).withUnsafeBytes { mix($0) }
            tensor.withUnsafeBytes { mix($0) }
        }
        return String(format: "%016llx", hash)
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
