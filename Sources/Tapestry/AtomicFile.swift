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
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
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
}
