import Foundation

/// Reading and writing the safetensors format (huggingface/safetensors):
/// an 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
/// Each header entry is `{"dtype", "shape", "data_offsets": [begin, end]}` relative to the
/// buffer; `__metadata__` maps strings to strings.
///
/// The reader validates in the reference implementation's order and never trusts a
/// length before checking it against the file: every problem is a `SafetensorsError`
/// naming the file, the problem and the tensor. Duplicate tensor names are rejected (the
/// format forbids them; the reference silently keeps the last). F16 and BF16 tensors are
/// converted to Float32 on reading.
public struct SafetensorsFile: Sendable {
    /// Tensors in file order (by data offset).
    public var tensors: [(name: String, tensor: Tensor)]
    /// The `__metadata__` map (empty when absent).
    public var metadata: [String: String]

    public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    public var names: [String] { tensors.map(\.name) }
}

/// A safetensors file that could not be read or written.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case fileTooSmall(size: Int)
        case headerTooLarge(length: UInt64)
        case headerPastEndOfFile(length: UInt64, fileSize: Int)
        case invalidUTF8
        case invalidJSON(String)
        case headerNotAnObject
        case metadataNotStrings(key: String)
        case invalidEntry(tensor: String, reason: String)
        case unknownDType(tensor: String, dtype: String)
        case unsupportedDType(tensor: String, dtype: String)
        case shapeOverflow(tensor: String)
        case sizeMismatch(tensor: String, expectedBytes: Int, actualBytes: Int)
        case invalidOffsets(tensor: String, reason: String)
        case notFullyCovered(expectedSize: Int, fileSize: Int)
        case unwritable(String)
    }

    public let file: String
    public let problem: Problem

    public var description: String { "\(file): \(reason)" }

    /// What is wrong, without the file name.
    public var reason: String {
        let text: String
        switch problem {
        case .unreadable(let why): text = "cannot read the file: \(why)"
        case .fileTooSmall(let size): text = "file is \(size) bytes, too small for the 8-byte header length"
        case .headerTooLarge(let n): text = "header length \(n) exceeds the 100,000,000-byte limit"
        case .headerPastEndOfFile(let n, let size): text = "header length \(n) runs past the end of the \(size)-byte file"
        case .invalidUTF8: text = "header is not valid UTF-8"
        case .invalidJSON(let why): text = "header is not valid JSON: \(why)"
        case .headerNotAnObject: text = "header is not a JSON object"
        case .metadataNotStrings(let key): text = "__metadata__ value for \"\(key)\" is not a string"
        case .invalidEntry(let t, let why): text = "tensor \"\(t)\": \(why)"
        case .unknownDType(let t, let d): text = "tensor \"\(t)\": unknown dtype \"\(d)\""
        case .unsupportedDType(let t, let d): text = "tensor \"\(t)\": dtype \(d) is not supported"
        case .shapeOverflow(let t): text = "tensor \"\(t)\": the byte size of its shape overflows"
        case .sizeMismatch(let t, let e, let a): text = "tensor \"\(t)\": shape and dtype need \(e) bytes but its offsets span \(a)"
        case .invalidOffsets(let t, let why): text = "tensor \"\(t)\": invalid data offsets (\(why))"
        case .notFullyCovered(let e, let size): text = "tensors end at byte \(e) but the file has \(size) bytes"
        case .unwritable(let why): text = "cannot write: \(why)"
        }
        return text
    }
}

/// The dtypes of the format that Tapestry reads, with their bit widths.
private enum StoredDType: String {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", u8 = "U8", bool = "BOOL"
    /// Valid in the format, but with no Tapestry dtype to hold them.
    static let unsupported: Set<String> = ["F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "I8", "I16", "U16", "U32", "U64", "C64"]

    var bytes: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .u8, .bool: return 1
        }
    }

    var tensorDType: DType {
        switch self {
        case .f64: return .float64
        case .f32, .f16, .bf16: return .float32
        case .i64: return .int64
        case .i32: return .int32
        case .u8: return .uint8
        case .bool: return .bool
        }
    }

    init(_ dtype: DType) {
        switch dtype {
        case .float32: self = .f32
        case .float64: self = .f64
        case .int64: self = .i64
        case .int32: self = .i32
        case .uint8: self = .u8
        case .bool: self = .bool
        }
    }
}

extension SafetensorsFile {
    /// The reference implementation's limit on the header length.
    public static let maximumHeaderLength: UInt64 = 100_000_000

    /// Reads and validates the file at `path`.
    public static func read(_ path: String) throws(SafetensorsError) -> SafetensorsFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a regular file" : "no such file"
            throw SafetensorsError(file: path, problem: .unreadable(reason))
        }
        return try parse([UInt8](data), file: path)
    }

    /// Parses and validates the bytes of a safetensors file; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String) throws(SafetensorsError) -> SafetensorsFile {
        func fail(_ problem: SafetensorsError.Problem) -> SafetensorsError { SafetensorsError(file: file, problem: problem) }

        guard bytes.count >= 8 else { throw fail(.fileTooSmall(size: bytes.count)) }
        let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard length <= maximumHeaderLength else { throw fail(.headerTooLarge(length: length)) }
        let headerLength = Int(length)  // safe: at most 1e8
        guard headerLength <= bytes.count - 8 else { throw fail(.headerPastEndOfFile(length: length, fileSize: bytes.count)) }
        let headerBytes = bytes[8..<(8 + headerLength)]
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail(.invalidUTF8) }
        let header: JSONValue
        do { header = try JSONValue.parse(headerBytes) } catch { throw fail(.invalidJSON(error.description)) }
        guard case .object(let members) = header else { throw fail(.headerNotAnObject) }

        var metadata: [String: String] = [:]
        struct Entry { let name: String; let dtype: StoredDType; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw fail(.metadataNotStrings(key: "__metadata__")) }
                for (key, v) in pairs {
                    guard let s = v.stringValue else { throw fail(.metadataNotStrings(key: key)) }
                    metadata[key] = s
                }
                continue
            }
            guard case .object = value else { throw fail(.invalidEntry(tensor: name, reason: "entry is not an object")) }
            guard let dtypeName = value["dtype"]?.stringValue else { throw fail(.invalidEntry(tensor: name, reason: "missing dtype")) }
            guard let dtype = StoredDType(rawValue: dtypeName) else {
                throw fail(StoredDType.unsupported.contains(dtypeName) ? .unsupportedDType(tensor: name, dtype: dtypeName)
                                                                       : .unknownDType(tensor: name, dtype: dtypeName))
            }
            guard let shapeItems = value["shape"]?.arrayValue else { throw fail(.invalidEntry(tensor: name, reason: "missing shape")) }
            var shape: [Int] = []
            for item in shapeItems {
                guard let size = item.intValue, size >= 0 else {
                    throw fail(.invalidEntry(tensor: name, reason: "shape entries must be non-negative integers"))
                }
                shape.append(size)
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= 0 else {
                throw fail(.invalidOffsets(tensor: name, reason: "data_offsets must be two non-negative integers"))
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }

        // Offsets must tile the buffer from 0 without gaps or overlaps.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0
        for entry in entries {
            guard entry.begin == position else {
                throw fail(.invalidOffsets(tensor: entry.name, reason: entry.begin < position ? "overlaps the previous tensor" : "leaves a gap at byte \(position)"))
            }
            guard entry.end >= entry.begin else { throw fail(.invalidOffsets(tensor: entry.name, reason: "end \(entry.end) before begin \(entry.begin)")) }
            var byteCount = entry.dtype.bytes
            for size in entry.shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: size)
                guard !overflow else { throw fail(.shapeOverflow(tensor: entry.name)) }
                byteCount = product
            }
            guard byteCount == entry.end - entry.begin else {
                throw fail(.sizeMismatch(tensor: entry.name, expectedBytes: byteCount, actualBytes: entry.end - entry.begin))
            }
            position = entry.end
        }
        let (expectedSize, overflow) = (8 + headerLength).addingReportingOverflow(position)
        guard !overflow, expectedSize == bytes.count else { throw fail(.notFullyCovered(expectedSize: overflow ? Int.max : expectedSize, fileSize: bytes.count)) }

        let dataStart = 8 + headerLength
        let tensors = entries.map { entry in
            (entry.name, decode(bytes, from: dataStart + entry.begin, count: entry.end - entry.begin, as: entry.dtype, shape: entry.shape))
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    /// Copies validated bytes into a new tensor (the file's data may be unaligned).
    private static func decode(_ bytes: [UInt8], from start: Int, count: Int, as stored: StoredDType, shape: [Int]) -> Tensor {
        let tensor = Tensor(uninitializedShape: shape, dtype: stored.tensorDType)
        bytes.withUnsafeBytes { raw in
            let source = raw.baseAddress! + start
            switch stored {
            case .f16, .bf16:
                let out = tensor.pointer(Float.self)
                for i in 0..<(count / 2) {
                    let bits = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = stored == .f16 ? Float(Float16(bitPattern: UInt16(littleEndian: bits)))
                                            : Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
                }
            default:
                tensor.storage.base.copyMemory(from: source, byteCount: count)
            }
        }
        return tensor
    }

    /// Writes the tensors (in the given order) and metadata atomically: a reader sees
    /// either the old file or the complete new one.
    public func write(to path: String) throws(SafetensorsError) {
        var seen = Set<String>()
        var members: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        var payloads: [Tensor] = []
        for (name, tensor) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw SafetensorsError(file: path, problem: .invalidEntry(tensor: name, reason: "name is reserved or repeated"))
            }
            let data = tensor.detached().contiguous()
            let byteCount = data.count * data.dtype.byteSize
            members.append((name, .object([
                ("dtype", .string(StoredDType(data.dtype).rawValue)),
                ("shape", .array(data.shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(offset)), .number(String(offset + byteCount))])),
            ])))
            payloads.append(data)
            offset += byteCount
        }
        var header = Array(JSONValue.object(members).serialized.utf8)
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64($0))) } + header
        let failure: AtomicFile.WriteError? = prefix.withUnsafeBytes { head in
            let chunks = [head] + payloads.map {
                UnsafeRawBufferPointer(start: $0.storage.base + $0.offset * $0.dtype.byteSize, count: $0.count * $0.dtype.byteSize)
            }
            do throws(AtomicFile.WriteError) { try AtomicFile.write(chunks, to: path) } catch { return error }
            return nil
        }
        withExtendedLifetime(payloads) {}
        if let failure { throw SafetensorsError(file: path, problem: .unwritable(failure.reason)) }
    }
}
