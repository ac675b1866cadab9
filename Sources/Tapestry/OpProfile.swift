import Dispatch
import Foundation
import Synchronization

/// Where the time of a computation on the tape goes, operation by operation and output
/// shape by output shape, forward and backward (the table `torch.profiler` prints):
///
/// ```swift
/// let (_, profile) = OpProfile.measure { model(x).sum().backward() }
/// print(profile.table(top: 20))
/// ```
///
/// - Backward: the time of each operation's derivative rule, measured around the rule.
/// - Forward: an operation records itself on the tape once its output is computed, so
///   each recorded operation is given the time since the previous one: its own work, plus
///   whatever ran unrecorded in between (views, ops on tensors that need no gradient, such
///   as a frozen backbone's). Only recorded operations appear: run the forward pass with
///   gradients on.
/// - Summing gradients that reach a tensor from several uses is its own entry ("+ grads").
///
/// Only the task that calls `measure` is profiled; elsewhere the tape pays one atomic load.
public struct OpProfile: Sendable {
    public enum Phase: String, Sendable {
        case forward, backward
    }

    /// One operation at one output shape in one phase.
    public struct Entry: Sendable, Equatable {
        public var phase: Phase
        public var operation: String
        public var shape: [Int]
        public var calls: Int
        public var seconds: Double

        var key: Key { Key(phase: phase, operation: operation, shape: shape) }
    }

    /// What entries are summed by: phase, operation and output shape.
    struct Key: Hashable {
        var phase: Phase
        var operation: String
        var shape: [Int]
    }

    /// Entries by decreasing time.
    public private(set) var entries: [Entry]
    /// Wall time of the measured calls.
    public private(set) var wallSeconds: Double
    /// Measured calls merged into this profile (`merging`).
    public private(set) var runs: Int

    /// Runs `body` (synchronously, on this task) and profiles the operations it records and
    /// the derivative rules it runs.
    public static func measure<R>(_ body: () throws -> R) rethrows -> (result: R, profile: OpProfile) {
        let recorder = OpRecorder()
        OpRecorder.activeCount.add(1, ordering: .relaxed)
        defer { OpRecorder.activeCount.subtract(1, ordering: .relaxed) }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try OpRecorder.$current.withValue(recorder) { try body() }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (result, OpProfile(entries: recorder.entries(), wallSeconds: wall, runs: 1))
    }

    /// This profile and `other` together (entries of the same phase, operation and shape summed).
    public func merging(_ other: OpProfile) -> OpProfile {
        var totals: [Key: Entry] = [:]
        for entry in entries + other.entries {
            totals[entry.key, default: Entry(phase: entry.phase, operation: entry.operation, shape: entry.shape, calls: 0, seconds: 0)]
                .add(entry)
        }
        return OpProfile(entries: totals.values.sorted(by: OpProfile.slowerFirst), wallSeconds: wallSeconds + other.wallSeconds,
                         runs: runs + other.runs)
    }

    /// The `top` slowest entries, then the time per operation and phase, as text: times and
    /// call counts per measured run (`runs`), shares of the wall time.
    public func table(top: Int = 25) -> String {
        let perRun = 1 / Double(max(runs, 1)), wall = max(wallSeconds, 1e-12)
        func row(_ phase: String, _ operation: String, _ shape: String, calls: Int?, seconds: Double) -> String {
            let callsText = calls.map { String(format: "%.1f", Double($0) * perRun) } ?? ""
            return phase.padding(toLength: 9, withPad: " ", startingAt: 0) + operation.padding(toLength: 18, withPad: " ", startingAt: 0)
                + shape.padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 8 - callsText.count)) + callsText
                + String(format: " %10.2f %6.1f", seconds * perRun * 1e3, 100 * seconds / wall)
        }
        var lines = ["phase    operation         output shape             calls         ms      %"]
        for entry in entries.prefix(top) {
            lines.append(row(entry.phase.rawValue, entry.operation, "\(entry.shape)", calls: entry.calls, seconds: entry.seconds))
        }
        var byOperation: [Key: Entry] = [:]
        for entry in entries {
            let key = Key(phase: entry.phase, operation: entry.operation, shape: [])
            byOperation[key, default: Entry(phase: entry.phase, operation: entry.operation, shape: [], calls: 0, seconds: 0)].add(entry)
        }
        lines.append("by operation:")
        for entry in byOperation.values.sorted(by: OpProfile.slowerFirst).prefix(top) {
            lines.append(row(entry.phase.rawValue, entry.operation, "", calls: entry.calls, seconds: entry.seconds))
        }
        let attributed = entries.reduce(0) { $0 + $1.seconds }
        lines.append(row("other", "(no operation)", "", calls: nil, seconds: max(0, wallSeconds - attributed)))
        lines.append(row("total", "", "", calls: nil, seconds: wallSeconds))
        return lines.joined(separator: "\n")
    }

    static func slowerFirst(_ a: Entry, _ b: Entry) -> Bool {
        a.seconds != b.seconds ? a.seconds > b.seconds : (a.phase.rawValue, a.operation, a.shape.description) < (b.phase.rawValue, b.operation, b.shape.description)
    }
}

extension OpProfile.Entry {
    /// Adds `other`'s calls and time to this entry's.
    mutating func add(_ other: OpProfile.Entry) {
        calls += other.calls
        seconds += other.seconds
    }
}

/// The running totals of one `OpProfile.measure`.
final class OpRecorder: Sendable {
    /// How many `measure` calls are running, on any task: the tape's one check when none is.
    static let activeCount = Atomic<Int>(0)
    @TaskLocal static var current: OpRecorder?

    /// The recorder of this task's `measure`, if one is running.
    @inline(__always) static var active: OpRecorder? {
        activeCount.load(ordering: .relaxed) > 0 ? current : nil
    }

    private typealias Key = OpProfile.Key

    private struct State {
        var totals: [Key: (calls: Int, nanoseconds: UInt64)] = [:]
        /// When the last recorded operation or derivative rule ended.
        var mark = DispatchTime.now().uptimeNanoseconds
        /// Derivative rules running: operations they record (`createGraph`) are theirs.
        var rulesRunning = 0

        mutating func add(_ key: Key, _ nanoseconds: UInt64) {
            let known = totals[key] ?? (0, 0)
            totals[key] = (known.calls + 1, known.nanoseconds + nanoseconds)
        }
    }

    private let state = Mutex(State())

    /// A forward operation recorded now: it is given the time since the last mark.
    func recordedForward(_ operation: StaticString, shape: [Int]) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            guard state.rulesRunning == 0 else { return }
            state.add(Key(phase: .forward, operation: "\(operation)", shape: shape), now - min(now, state.mark))
            state.mark = now
        }
    }

    /// Runs a derivative rule (or the summing of gradients) and gives it its time.
    func backward<R>(_ operation: String, shape: [Int], _ body: () -> R) -> R {
        state.withLock { $0.rulesRunning += 1 }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let end = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            state.rulesRunning -= 1
            state.add(Key(phase: .backward, operation: operation, shape: shape), end - start)
            state.mark = end
        }
        return result
    }

    func entries() -> [OpProfile.Entry] {
        state.withLock { state in
            state.totals.map { OpProfile.Entry(phase: $0.key.phase, operation: $0.key.operation, shape: $0.key.shape,
                                               calls: $0.value.calls, seconds: Double($0.value.nanoseconds) / 1e9) }
        }.sorted(by: OpProfile.slowerFirst)
    }
}
