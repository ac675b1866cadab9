import Dispatch
import Tapestry

/// Reads the next batch on a thread of its own while the current step computes (PyTorch's
/// `DataLoader` with one worker and a prefetch of one): decoding and augmenting images
/// then costs no time of the step's, and a machine whose step leaves a core idle uses it.
///
/// A batch is named by (epoch, batch) and made by `TrainingTask.batch` from the examples and
/// the generator the trainer derives for it, so it is the same batch, bit for bit, whether
/// it was loaded ahead or when asked for. An error loading it is thrown when it is taken.
final class BatchLoader: @unchecked Sendable {
    struct Key: Equatable {
        var epoch: Int
        var batch: Int
    }

    /// A batch being loaded ahead: the loader thread writes `result`, then signals `loaded`;
    /// the trainer reads `result` only after waiting for it.
    private final class Pending: @unchecked Sendable {
        let key: Key
        let loaded = DispatchSemaphore(value: 0)
        var result: Result<TrainingBatch, Error>?
        init(key: Key) { self.key = key }
    }

    private let task: TrainingTask
    private let queue = DispatchQueue(label: "tapestry.batch-loader")
    private var ahead: Pending?

    init(task: TrainingTask) { self.task = task }

    /// Starts loading `key`'s `examples` on the loader thread.
    func loadAhead(_ key: Key, examples: [Int], random: RandomGenerator) {
        finish()
        let pending = Pending(key: key)
        ahead = pending
        queue.async { [self] in
            pending.result = Result { try load(examples, random) }
            pending.loaded.signal()
        }
    }

    /// Batch `key`: the one loaded ahead if it is that one, else loaded now.
    func take(_ key: Key, examples: [Int], random: RandomGenerator) throws -> TrainingBatch {
        guard let pending = ahead, pending.key == key else {
            finish()
            return try load(examples, random)
        }
        pending.loaded.wait()
        ahead = nil
        return try pending.result!.get()
    }

    /// Waits for a load in progress and drops its batch (before the trainer returns, so no
    /// thread of ours still reads the task's data afterwards).
    func finish() {
        ahead?.loaded.wait()
        ahead = nil
    }

    /// Loading needs no gradients: nothing it computes is recorded on the tape.
    private func load(_ examples: [Int], _ random: RandomGenerator) throws -> TrainingBatch {
        var random = random
        return try noGrad { try task.batch(examples: examples, random: &random) }
    }
}
