import ArgumentParser
import Zoo

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the zoo's models, one line each.")

    @Flag(help: "Also print each model's default configuration (JSON, the original code's argument names).")
    var config = false

    func run() throws {
        for entry in Registry.models {
            print("\(entry.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(entry.summary) — \(entry.paper)")
            if config { print("  \(try entry.defaultConfig())") }
        }
    }
}
