import Foundation

/// A folder a command writes its results to, checked before any work starts so that a
/// typo or a read-only mount is reported at once and in plain words.
public enum OutputFolder {
    /// Creates `path` (and its parents) when missing and checks that this process can
    /// create files in it.
    public static func prepare(_ path: String) throws(OutputFolderError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw OutputFolderError(path: path, reason: "exists and is not a folder") }
        } else {
            // mkdir -p, one component at a time, so a failure has its POSIX reason.
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in path.split(separator: "/") {
                prefix += component + "/"
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                    throw OutputFolderError(path: path, reason: "cannot be created (\(String(cString: strerror(errno))))")
                }
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw OutputFolderError(path: path, reason: "cannot be written to (\(String(cString: strerror(errno))))")
        }
    }
}

/// An output folder that cannot be used, and why.
public struct OutputFolderError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "output folder \(path) \(reason)" }
}
