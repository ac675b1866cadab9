import ArgumentParser
import Foundation
import Tapestry

@main
struct Zoo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Train, evaluate, inspect and benchmark Tapestry models.",
        version: BuildInfo.version,
        subcommands: [Info.self, Models.self, Train.self, Eval.self, Predict.self, AttentionMaps.self, Export.self, Convert.self, Plot.self, Inspect.self, Bench.self, Parity.self, EvalCOCO.self,
                      CheckData.self, MakeShapes.self])

    static func main() {
        FastPath.ensureOpenBLASKernelsMatchTheCPU()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints a warning on standard error and goes on.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("zoo: warning: \(message)\n".utf8))
}

/// Prints a one-line error to standard error and exits with status 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("zoo: \(message)\n".utf8))
    Foundation.exit(1)
}
