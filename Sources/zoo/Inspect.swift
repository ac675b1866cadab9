import ArgumentParser
import Tapestry

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tensors, dtypes, shapes and metadata of a safetensors file.")

    @Argument(help: "A .safetensors file.")
    var file: String

    func run() {
        let contents: SafetensorsFile
        do { contents = try SafetensorsFile.read(file) } catch { fail(error.description) }
        let nameWidth = max(4, contents.names.map(\.count).max() ?? 0)
        print("\(file): \(contents.tensors.count) tensors, \(contents.tensors.reduce(0) { $0 + $1.tensor.count }) values")
        for (key, value) in contents.metadata.sorted(by: { $0.key < $1.key }) {
            let shown = value.count > 100 ? String(value.prefix(100)) + "… (\(value.count) characters)" : value
            print("  metadata \(key) = \(shown)")
        }
        print("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype    shape")
        for (name, tensor) in contents.tensors {
            print("  " + name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                  + tensor.dtype.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + "  \(tensor.shape)")
        }
    }
}
