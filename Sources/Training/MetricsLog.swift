import Foundation

/// Training metrics as JSON lines: one object per record, `{"step": …, "<name>": value, …}`,
/// appended and flushed so a crash loses at most the record being written.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        self.path = path
    }

    deinit { try? handle.close() }

    /// Appends one record; non-finite values are written as strings ("nan", "inf") so the
    /// line stays valid JSON.
    public func write(step: Int, _ values: [String: Double]) throws {
        var fields = ["\"step\":\(step)"]
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            let text = value.isFinite ? "\(value)" : "\"\(value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf"))\""
            fields.append("\(jsonString(name)):\(text)")
        }
        try handle.write(contentsOf: Data(("{" + fields.joined(separator: ",") + "}\n").utf8))
        try handle.synchronize()
    }

    private func jsonString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
