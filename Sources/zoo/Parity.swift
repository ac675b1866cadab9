import ArgumentParser
import Foundation
import Tapestry
import TapestryNN
import Detection
import Parity

struct Parity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check Tapestry against reference fixtures (forward values, losses and gradients).",
        discussion: "Prints the worst relative error per tensor and exits non-zero when a tensor is out of tolerance or missing.")

    enum Precision: String, ExpressibleByArgument, CaseIterable {
        case float32, float64
        var dtype: DType { self == .float32 ? .float32 : .float64 }
    }

    @Argument(help: "Fixture files (zoo-fixture-1 safetensors).")
    var files: [String]

    @Option(help: "Precision to run in: float32 or float64.")
    var dtype: Precision = .float64

    @Flag(help: "Print only failing tensors and the summary.")
    var quiet = false

    /// Every runner the zoo knows, by fixture model name.
    static var runners: [String: FixtureRunner] {
        Runners.all
    }

    func run() throws {
        var failedFiles = 0
        for path in files {
            do {
                let report = try ParityCheck.run(try Fixture(path: path), dtype: dtype.dtype, runners: Self.runners)
                print("\(path) [\(dtype.rawValue)]: \(report.passed ? "PASS" : "FAIL") (\(report.lines.count) tensors, \(report.failures.count) failing)")
                let width = report.lines.map(\.name.count).max() ?? 0
                for line in report.lines where !quiet || !line.passed {
                    let status = line.passed ? "ok  " : "FAIL"
                    let detail = line.note ?? (line.shape.isEmpty && line.tolerance == 0 ? "" : String(format: "%.2e (tolerance %.0e)", line.error, line.tolerance))
                    let shape = line.shape.isEmpty ? "" : String(describing: line.shape)
                    print("  \(status) \(line.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(shape.padding(toLength: 16, withPad: " ", startingAt: 0)) \(detail)\(line.waived == nil ? "" : " (waived)")")
                }
                for reason in Set(report.lines.compactMap(\.waived)).sorted() { print("  waived: \(reason)") }
                if !report.passed { failedFiles += 1 }
            } catch {
                print("\(path): ERROR \(error)")
                failedFiles += 1
            }
        }
        if failedFiles > 0 { throw ExitCode(1) }
    }
}
