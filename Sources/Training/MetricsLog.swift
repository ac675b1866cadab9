import Foundation
import Tapestry

/// Training metrics as JSON lines: one object per record, `{"step": …, "<name>": value, …}`.
///
/// Every line is whole: a record is appended with one write and flushed, and a write that
/// fails part way (a full disk) is cut off again before the error is reported. A file
/// whose last line was cut short anyway (the machine lost power) is repaired when it is
/// opened: the partial line is dropped, so the next record starts on a line of its own.
public final class MetricsLog {
    public let path: String
    private let descriptor: Int32

    public init(path: String) throws(MetricsLogError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw MetricsLogError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        do { try dropPartialLastLine() } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// The records of a metrics file, in order: each step with its values ("nan", "inf" read
    /// back as numbers). Lines that are not a record (a line cut short) are counted in
    /// `skipped`, not fatal.
    public static func read(_ path: String) throws(MetricsLogError) -> (records: [(step: Int, values: [String: Double])], skipped: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw MetricsLogError(path: path, reason: "cannot be read") }
        var records: [(step: Int, values: [String: Double])] = [], skipped = 0
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard case .object(let members)? = try? JSONValue.parse(line), let step = members.first(where: { $0.key == "step" })?.value.intValue else {
                skipped += 1
                continue
            }
            var values: [String: Double] = [:]
            for (key, value) in members where key != "step" {
                switch value {
                case .number(let text): values[key] = Double(text)
                case .string(let text): values[key] = Double(text)      // "nan", "inf", "-inf"
                default: continue
                }
            }
            records.append((step, values))
        }
        return (records, skipped)
    }

    /// Appends one record; non-finite values are written as strings ("nan", "inf") so the
    /// line stays valid JSON.
    public func write(step: Int, _ values: [String: Double]) throws(MetricsLogError) {
        var fields = ["\"step\":\(step)"]
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            let text = value.isFinite ? "\(value)" : "\"\(value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf"))\""
            fields.append("\(JSONValue.string(name).serialized):\(text)")
        }
        try append(Array(("{" + fields.joined(separator: ",") + "}\n").utf8))
    }

    private func append(_ line: [UInt8]) throws(MetricsLogError) {
        let end = lseek(descriptor, 0, SEEK_END)
        var written = 0, failure: String?
        line.withUnsafeBytes { bytes in
            while written < bytes.count {
                let n = Foundation.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                written += n
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            if end >= 0 { _ = ftruncate(descriptor, end) }
            throw MetricsLogError(path: path, reason: "cannot append a record (\(failure)); the file ends with the previous whole line")
        }
    }

    /// Cuts the file back to its last newline when it ends part way through a line.
    private func dropPartialLastLine() throws(MetricsLogError) {
        var size = lseek(descriptor, 0, SEEK_END)
        guard size > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while size > 0 {
            let chunk = min(Int(size), buffer.count), start = size - off_t(chunk)
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, chunk, start) }
            guard n == chunk else { throw MetricsLogError(path: path, reason: "cannot read its end: \(String(cString: strerror(errno)))") }
            if let last = buffer[..<chunk].lastIndex(of: UInt8(ascii: "\n")) {
                size = start + off_t(last) + 1
                break
            }
            size = start
        }
        if size != lseek(descriptor, 0, SEEK_END) && ftruncate(descriptor, size) != 0 {
            throw MetricsLogError(path: path, reason: "cannot drop its cut-off last line: \(String(cString: strerror(errno)))")
        }
    }
}

/// A metrics file that cannot be written, and why.
public struct MetricsLogError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
