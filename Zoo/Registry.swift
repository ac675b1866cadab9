import Foundation
import Detection
import Tapestry
import TapestryNN

/// The zoo's models by name, for the `zoo` command.
public enum Registry {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let paper: String
        /// The default configuration as JSON (the original code's argument names).
        public let defaultConfig: @Sendable () throws -> String
    }

    public static let models: [Entry] = [
        Entry(name: "detr", summary: "DETR: ResNet backbone, transformer encoder–decoder, set prediction with Hungarian matching",
              paper: "Carion et al., End-to-End Object Detection with Transformers, ECCV 2020",
              defaultConfig: { try jsonText(DETR.Config()) }),
    ]

    public static var names: [String] { models.map(\.name) }

    /// The entry called `name`, or an error listing the known ones.
    public static func entry(named name: String) throws(ZooError) -> Entry {
        guard let entry = models.first(where: { $0.name == name }) else { throw .unknownModel(name, known: names) }
        return entry
    }

    static func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
