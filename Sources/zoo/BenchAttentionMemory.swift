import ArgumentParser
import Foundation
import Tapestry
import TapestryNN

extension AttentionPath: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "auto": self = .automatic
        case "plain": self = .plain
        case "lean": self = .lean
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["auto", "plain", "lean"] }
}

/// Peak memory of MultiheadAttention's forward + backward on the plain and the lean path, at
/// growing sequence lengths: the plain path stores the [B, H, L, L] logits and weights, so
/// it grows as L²; the lean path as L. Each measurement runs in a process of its own (peak
/// RSS only ever grows within a process).
struct BenchAttentionMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention-memory",
        abstract: "Peak memory of MultiheadAttention forward + backward, plain and lean path, by sequence length.",
        discussion: """
            Float32, batch 2, d 256, self-attention over L tokens, needWeights false. Each cell is one child \
            process: its peak RSS, its growth over the RSS before the attention's inputs were made, and the \
            time of its one forward + backward (no warm-up: a rough figure). A plain \
            run that would need more memory than the machine has available is not started.
            """)

    @Option(parsing: .upToNextOption, help: "Sequence lengths.")
    var lengths = [1024, 4096, 16384]

    @Option(help: "Attention heads.")
    var heads = 8

    @Option(help: "Measure one cell in this process (used by the table's child processes).")
    var only: AttentionPath?

    func validate() throws {
        if lengths.isEmpty || lengths.contains(where: { $0 < 1 }) { throw ValidationError("--lengths must be positive") }
        if heads < 1 || 256 % heads != 0 { throw ValidationError("--heads must divide 256") }
        if only != nil && lengths.count != 1 { throw ValidationError("--only measures one length") }
        if only == .automatic { throw ValidationError("--only takes plain or lean") }
    }

    func run() throws {
        if let only {
            print(Self.measure(length: lengths[0], heads: heads, path: only))
            return
        }
        print("MultiheadAttention forward + backward, Float32, B 2, \(heads) heads, d 256 (peak RSS / growth MiB, time of one pass):")
        print("  L        plain                         lean")
        for length in lengths {
            let cells = [AttentionPath.plain, .lean].map { path -> String in
                // Logits, weights and their gradient: three [B, H, L, L] Float32 matrices at once.
                let plainNeed = 3 * 2 * heads * length * length * 4
                if path == .plain, let available = Self.availableBytes(), plainNeed > available {
                    return String(format: "needs > %.1f GB (%.1f free)", Double(plainNeed) / 1e9, Double(available) / 1e9)
                }
                return (try? child(length: length, path: path)) ?? "failed"
            }
            print("  " + String(length).padding(toLength: 9, withPad: " ", startingAt: 0)
                  + cells[0].padding(toLength: 30, withPad: " ", startingAt: 0) + cells[1])
        }
    }

    /// Runs this command for one cell in a child process and returns its line.
    func child(length: Int, path: AttentionPath) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0])
        process.arguments = ["bench", "attention-memory", "--lengths", String(length), "--heads", String(heads),
                             "--only", path == .plain ? "plain" : "lean"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return "failed (\(process.terminationStatus))" }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// "peak / growth MiB, seconds" of one forward + backward on `path`.
    static func measure(length: Int, heads: Int, path: AttentionPath) -> String {
        let attention = MultiheadAttention(embedDim: 256, heads: heads)
        let before = statusField("VmRSS")
        var random = RandomGenerator(seed: 4)
        let sequence = Tensor.normal([length, 2, 256], generator: &random).requiringGrad()
        let start = DispatchTime.now().uptimeNanoseconds
        AttentionPath.$preferred.withValue(path) {
            attention(query: sequence, key: sequence, value: sequence, needWeights: false).output.sum().backward()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let peak = statusField("VmHWM")
        return String(format: "%.0f / %.0f, %.2f s", peak / 1024, (peak - before) / 1024, seconds)
    }

    /// A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: peak resident).
    static func statusField(_ name: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
        return line.flatMap { Double($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") } ?? .nan
    }

    /// MemAvailable from /proc/meminfo, in bytes.
    static func availableBytes() -> Int? {
        let info = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }
        return line.flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") }.map { $0 * 1024 }
    }
}
