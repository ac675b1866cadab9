import Dispatch
import Foundation
import Tapestry
import TapestryNN
import Testing
@testable import Training

/// A task that records how its batches are loaded: which examples and generator each load
/// got, on which thread, and whether the next batch was being loaded while a step computed.
final class RecordingTask: TrainingTask, @unchecked Sendable {
    let network = Linear(2, 1)
    var model: Module { network }
    let exampleCount = 12
    /// Loading the batch with this number (from 1) throws `LoadFailure`.
    var failingLoad: Int?
    struct LoadFailure: Error {}
    /// Each load: its examples, the generator's first draw, and the thread it ran on.
    private(set) var loads: [(examples: [Int], draw: UInt64, thread: pthread_t)] = []
    /// The thread the losses ran on (the trainer's).
    private(set) var lossThread: pthread_t?
    /// Loads after which no batch follows (the loss of this one waits for no next load).
    var lastLoad = 8
    /// Steps during which the next batch's load had started before the step's loss returned.
    private(set) var stepsOverlapped = 0, stepsComputed = 0
    private(set) var loadsInProgress = 0
    private let lock = NSLock()
    /// How long a load takes (to catch a trainer returning while one is in progress).
    var loadSeconds = 0.0

    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        [ParameterGroup(network.namedParameters(), learningRate: learningRate, weightDecay: weightDecay)]
    }

    func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch {
        let number = lock.withLock { () -> Int in
            loadsInProgress += 1
            loads.append((examples, random.next(), pthread_self()))
            return loads.count
        }
        Thread.sleep(forTimeInterval: loadSeconds)
        lock.withLock { loadsInProgress -= 1 }
        if number == failingLoad { throw LoadFailure() }
        let x = Tensor(examples.flatMap { [Double($0), 1] }, shape: [examples.count, 2], dtype: .float32)
        return TrainingBatch { [self] in
            lossThread = pthread_self()
            if number < lastLoad && nextLoadStarts(after: number) { stepsOverlapped += 1 }
            stepsComputed += 1
            let y = network(x)
            let loss = (y * y).mean()
            return TrainingLoss(total: loss, terms: [:])
        }
    }

    /// Whether load `number + 1` starts within 5 seconds (it has, or will, when the trainer
    /// loads ahead; it never does while this loss blocks a trainer that does not).
    func nextLoadStarts(after number: Int) -> Bool {
        for _ in 0..<500 {
            if lock.withLock({ loads.count > number }) { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double] { [:] }
    func describe(examples: [Int]) -> String { "examples \(examples)" }
}

@Suite(.serialized) struct BatchLoaderTests {
    func trainer(_ task: RecordingTask, epochs: Int = 2) throws -> (Trainer, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-loader-\(UUID().uuidString)").path
        var c = TrainerConfig()
        (c.epochs, c.batchSize, c.evalEvery, c.gradientAccumulation) = (epochs, 3, 0, 2)
        let t = try Trainer(task: task, config: c, modelName: "recording", settings: "{}", directory: directory)
        t.interactiveProgress = false
        return (t, directory)
    }

    @Test func theNextBatchLoadsOnItsOwnThreadWhileAStepComputes() throws {
        let task = RecordingTask()
        let (t, directory) = try trainer(task)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try t.run()
        // 2 epochs × 4 batches of 3 (12 examples), 2 batches per step: 4 steps.
        #expect(t.state.step == 4 && task.loads.count == 8 && task.stepsComputed == 8)
        // Every batch but the first was loaded ahead, off the trainer's thread; every batch
        // but the last found the next one's load started before its loss was computed.
        let trainerThread = try #require(task.lossThread)
        #expect(task.loads.map { pthread_equal($0.thread, trainerThread) != 0 } == [true] + Array(repeating: false, count: 7))
        #expect(task.stepsOverlapped == 7)
        // Loaded ahead, each batch is the one the trainer would have loaded when asked:
        // its epoch's shuffled examples and the generator derived from (epoch, batch).
        for (number, load) in task.loads.enumerated() {
            let (epoch, batch) = (number / 4, number % 4)
            #expect(load.examples == t.batchExamples(epoch: epoch, batch: batch))
            var expected = t.derivedGenerator(UInt64(epoch), UInt64(batch))
            #expect(load.draw == expected.next())
        }
        #expect(Set(task.loads.flatMap(\.examples)).count == 12)
    }

    @Test func aBatchThatFailsToLoadStopsTheStepThatUsesIt() throws {
        let task = RecordingTask()
        task.failingLoad = 5    // the first batch of the third step
        let (t, directory) = try trainer(task)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: RecordingTask.LoadFailure.self) { try t.run() }
        #expect(t.state.step == 2 && task.stepsComputed == 4)
    }

    @Test func noLoadIsLeftRunningWhenTrainingStops() throws {
        let task = RecordingTask()
        task.loadSeconds = 0.2
        let (t, directory) = try trainer(task)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        t.maxSteps = 1
        _ = try t.run()
        // The third batch was being loaded ahead when the first step ended.
        #expect(task.loads.count == 3 && task.loadsInProgress == 0)
    }
}
