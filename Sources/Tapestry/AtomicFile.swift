import Foundation

/// Writing files so that a reader never sees a half-written one: the bytes go to a
/// temporary file in the same directory, are flushed to disk, and the temporary file is
/// renamed over the destination (rename is atomic on POSIX file systems).
package enum AtomicFile {
    package struct WriteError: Error, CustomStringConvertible {
        package let path: String
        package let reason: String
        package var description: String { "\(path): \(reason)" }
    }

    package static func write(_ chunks: [UnsafeRawBufferPointer], to path: String) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/" + temporaryName(for: (path as NSString).lastPathComponent)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw WriteError(path: path, reason: "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        var failure: String?
        for chunk in chunks where failure == nil {
            var written = 0
            while written < chunk.count {
                let n = Foundation.write(fd, chunk.baseAddress! + written, chunk.count - written)
                if n < 0 { failure = "write failed: \(String(cString: strerror(errno)))"; break }
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync failed: \(String(cString: strerror(errno)))" }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = "rename failed: \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temporary)
            throw WriteError(path: path, reason: failure)
        }
    }

    /// `.<destination>.tmp-<pid>-<random>`: hidden, unique, and naming its writer.
    static func temporaryName(for destination: String) -> String {
        ".\(destination).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Deletes the temporary files in `directory` of writes to destinations `owned` accepts
    /// whose process has died (killed mid-write), and returns their names. The temporary
    /// file of a write in progress by a live process is left alone.
    @discardableResult
    package static func removeAbandonedTemporaries(in directory: String, owned: (String) -> Bool) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards),
                  owned(String(name[name.index(after: name.startIndex)..<marker.lowerBound])),
                  let pid = Int32(name[marker.upperBound...].prefix { $0 != "-" }) else { return false }
            let alive = pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)
            return !alive && unlink((directory as NSString).appendingPathComponent(name)) == 0
        }
    }
}
