import ArgumentParser
import Training
import Zoo

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the zoo's models, one line each.")

    @Flag(help: "Also print each model's default settings (JSON by section, the original code's argument names): the paper's, then the shapes preset.")
    var config = false

    func run() throws {
        let width = Registry.names.map(\.count).max() ?? 0
        for entry in Registry.models {
            print("\(entry.name.padding(toLength: width + 1, withPad: " ", startingAt: 0)) \(entry.summary) — \(entry.paper)")
            if config {
                print("  paper:  \(try Settings(defaults: entry.defaults(false)).json)")
                print("  shapes: \(try Settings(defaults: entry.defaults(true)).json)")
            }
        }
    }
}
