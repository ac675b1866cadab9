import Foundation
import Tapestry

/// A PyTorch checkpoint (`torch.save`), read natively in both of PyTorch's formats:
///
/// - zip (PyTorch ≥ 1.6): `<name>/data.pkl` holds the object, `<name>/data/<key>` the raw
///   little-endian bytes of each storage;
/// - legacy (PyTorch ≤ 1.5, e.g. DETR's hub checkpoints): a sequence of pickles — a magic
///   number, the protocol version, system information, the object, the list of storage
///   keys — then for each key an 8-byte element count and the storage's bytes.
///
/// The object is read by the restricted `Unpickler` (nothing in the file is ever run).
/// Tensors are materialised from their storage, offset and strides, Float16 and BFloat16
/// as Float32, Int16 and Int8 as Int32 (the element types Tapestry computes in).
public struct PyTorchCheckpoint {
    /// The saved object: usually a state dict, or a dictionary holding one under `model`.
    public let root: PickleValue
    /// Every tensor, resolved.
    private let storages: [String: [UInt8]]
    public let path: String

    /// Reads `path`, refusing what is not a PyTorch checkpoint or names code to run.
    public static func read(_ path: String) throws -> PyTorchCheckpoint {
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw PyTorchCheckpointError(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(bytes, path: path)
    }

    /// A checkpoint from its bytes (`path` names it in errors).
    public static func parse(_ bytes: [UInt8], path: String) throws -> PyTorchCheckpoint {
        if bytes.starts(with: [0x50, 0x4b, 0x03, 0x04]) { return try readZip(bytes, path: path) }
        if bytes.first == 0x80 { return try readLegacy(bytes, path: path) }
        throw PyTorchCheckpointError(path: path, reason: "is neither a zip archive nor a pickle: not a PyTorch checkpoint")
    }

    /// The state dict: the root dictionary's `model` or `state_dict` entry when it has one,
    /// else the root itself; its tensors by key, in the file's order. Entries that are not
    /// tensors (an `OrderedDict`'s metadata) are left out.
    public func stateDict() throws -> [(name: String, tensor: Tensor)] {
        guard let root = root.dictionary else { throw PyTorchCheckpointError(path: path, reason: "does not hold a dictionary of tensors") }
        let dict = ["model", "state_dict"].lazy.compactMap { root[$0]?.dictionary }.first ?? root
        var tensors: [(name: String, tensor: Tensor)] = []
        for (key, value) in zip(dict.keys, dict.values) {
            guard case .string(let name) = key, case .tensor(let record) = value else { continue }
            tensors.append((name, try tensor(record, name: name)))
        }
        guard !tensors.isEmpty else { throw PyTorchCheckpointError(path: path, reason: "holds no tensors under model, state_dict or at its top level") }
        return tensors
    }

    /// A tensor record made contiguous, with its storage checked to hold every element.
    public func tensor(_ record: TensorRecord, name: String) throws -> Tensor {
        let reference = record.storage
        guard let data = storages[reference.key] else {
            throw PyTorchCheckpointError(path: path, reason: "tensor \(name) needs storage \(reference.key), which the file does not hold")
        }
        let size = reference.dtype.byteCount, available = data.count / size
        func failure(_ reason: String) -> PyTorchCheckpointError { PyTorchCheckpointError(path: path, reason: "tensor \(name) \(record.shape) \(reason)") }
        // Sizes and strides come from the file: every product is checked before it is trusted.
        var count = 1, last = reference.viewOffset.addingReportingOverflow(record.offset)
        for (extent, stride) in zip(record.shape, record.strides) {
            let product = count.multipliedReportingOverflow(by: extent)
            let step = (extent - 1).multipliedReportingOverflow(by: stride)
            guard !product.overflow, !step.overflow, !last.overflow else { throw failure("has sizes or strides too large to address") }
            count = product.partialValue
            if extent > 0 { last = last.partialValue.addingReportingOverflow(step.partialValue) }
        }
        let start = reference.viewOffset + record.offset
        guard count == 0 || (!last.overflow && last.partialValue < available) else {
            throw failure("reads beyond storage \(reference.key), which holds \(available) elements")
        }
        guard count <= available else { throw failure("has more elements than its storage \(reference.key) (an expanded view), which this reader does not support") }
        // Element offsets of the view in row-major order.
        var offsets = [start]
        if record.strides == Self.rowMajorStrides(record.shape) {
            offsets = Array(start..<(start + count))
        } else {
            for (extent, stride) in zip(record.shape, record.strides) {
                offsets = offsets.flatMap { base in (0..<extent).map { base + $0 * stride } }
            }
        }
        return data.withUnsafeBytes { raw in Self.convert(raw, offsets: count == 0 ? [] : offsets, dtype: reference.dtype, shape: record.shape) }
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        return strides
    }

    static func convert(_ raw: UnsafeRawBufferPointer, offsets: [Int], dtype: TorchDType, shape: [Int]) -> Tensor {
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
        switch dtype {
        case .float32: return Tensor(offsets.map { Float(bitPattern: load(UInt32.self, $0)) }, shape: shape)
        case .float64: return Tensor(offsets.map { Double(bitPattern: load(UInt64.self, $0)) }, shape: shape)
        case .float16: return Tensor(offsets.map { Float(Float16(bitPattern: load(UInt16.self, $0))) }, shape: shape)
        case .bfloat16: return Tensor(offsets.map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }, shape: shape)
        case .int64: return Tensor(offsets.map { load(Int64.self, $0) }, shape: shape)
        case .int32: return Tensor(offsets.map { load(Int32.self, $0) }, shape: shape)
        case .int16: return Tensor(offsets.map { Int32(load(Int16.self, $0)) }, shape: shape)
        case .int8: return Tensor(offsets.map { Int32(load(Int8.self, $0)) }, shape: shape)
        case .uint8: return Tensor(offsets.map { load(UInt8.self, $0) }, shape: shape)
        case .bool: return Tensor(offsets.map { Bool8(load(UInt8.self, $0) != 0) }, shape: shape)
        }
    }

    // MARK: The two formats

    static func readZip(_ bytes: [UInt8], path: String) throws -> PyTorchCheckpoint {
        func failure(_ reason: String) -> PyTorchCheckpointError { PyTorchCheckpointError(path: path, reason: reason) }
        let archive: StoredZip
        do { archive = try StoredZip(bytes) } catch { throw failure(error.description) }
        guard let pickleName = archive.entries.keys.first(where: { $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }),
              let pickle = archive[pickleName] else {
            throw failure("is a zip archive without a data.pkl: not a PyTorch checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if let order = archive[prefix + "byteorder"], String(decoding: order, as: UTF8.self) != "little" {
            throw failure("was written on a big-endian machine, which this reader does not support")
        }
        var references: [String: StorageReference] = [:]
        var unpickler = Unpickler(bytes: pickle) { id in
            let reference = try storageReference(id, legacy: false)
            references[reference.key] = reference
            return .storage(reference)
        }
        let root = try unpickle(&unpickler, path: path)
        var storages: [String: [UInt8]] = [:]
        for (key, reference) in references {
            guard let data = archive[prefix + "data/" + key] else {
                throw failure("refers to storage \(key), but the archive has no entry \(prefix)data/\(key)")
            }
            let (needed, overflow) = reference.count.multipliedReportingOverflow(by: reference.dtype.byteCount)
            guard !overflow, data.count >= needed else {
                throw failure("storage \(key) holds \(data.count) bytes where its \(reference.count) \(reference.dtype) elements need more")
            }
            storages[key] = data
        }
        return PyTorchCheckpoint(root: root, storages: storages, path: path)
    }

    /// torch.save's legacy magic number 0x1950a86a20f9469cfc6c, as LONG1's little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    static func readLegacy(_ bytes: [UInt8], path: String) throws -> PyTorchCheckpoint {
        func failure(_ reason: String) -> PyTorchCheckpointError { PyTorchCheckpointError(path: path, reason: reason) }
        var header = Unpickler(bytes: bytes) { _ in throw failure("has a storage in its header") }
        guard case .bigInt(let magic) = try unpickle(&header, path: path), magic == legacyMagic else {
            throw failure("is a pickle but not a PyTorch checkpoint (its magic number is missing)")
        }
        guard case .int(1001) = try unpickle(&header, path: path) else { throw failure("has a legacy protocol version other than 1001") }
        if case .dict(let info) = try unpickle(&header, path: path), case .bool(false) = info["little_endian"] {
            throw failure("was written on a big-endian machine, which this reader does not support")
        }
        var references: [String: StorageReference] = [:]
        var body = Unpickler(bytes: bytes, position: header.position) { id in
            let reference = try storageReference(id, legacy: true)
            references[reference.key] = references[reference.key] ?? reference
            return .storage(reference)
        }
        let root = try unpickle(&body, path: path)
        var keysReader = Unpickler(bytes: bytes, position: body.position) { _ in throw failure("has a storage in its key list") }
        guard case .list(let keyList) = try unpickle(&keysReader, path: path) else { throw failure("lacks the list of storage keys") }
        var position = keysReader.position, storages: [String: [UInt8]] = [:]
        for item in keyList.items {
            guard case .string(let key) = item, let reference = references[key] else { throw failure("lists a storage key the object never uses") }
            guard bytes.count - position >= 8 else { throw failure("ends before storage \(key)'s element count") }
            let count = bytes[position..<(position + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            position += 8
            let size = reference.dtype.byteCount
            guard count <= UInt64(bytes.count - position) / UInt64(size) else {
                throw failure("storage \(key) claims \(count) elements, more than the \(bytes.count - position) bytes left hold")
            }
            storages[key] = Array(bytes[position..<(position + Int(count) * size)])
            position += Int(count) * size
        }
        return PyTorchCheckpoint(root: root, storages: storages, path: path)
    }

    /// ('storage', storage type, key, location, count[, view metadata]).
    static func storageReference(_ id: PickleValue, legacy: Bool) throws -> StorageReference {
        guard case .tuple(let fields) = id, fields.count >= 5, case .string("storage") = fields[0], case .global(let type) = fields[1],
              let dtype = TorchDType.storageClasses[type] ?? TorchDType.dtypeGlobals[type], case .string(let key) = fields[2],
              case .int(let count) = fields[4], count >= 0 else {
            throw PickleError.malformed("a persistent id that is not ('storage', type, key, location, count)", at: 0)
        }
        var reference = StorageReference(key: key, dtype: dtype, count: count)
        // A legacy view of a larger storage: (view key, offset, size).
        if legacy, fields.count >= 6, case .tuple(let view) = fields[5], view.count == 3, case .int(let offset) = view[1], offset >= 0 {
            reference.viewOffset = offset
        }
        return reference
    }

    static func unpickle(_ unpickler: inout Unpickler, path: String) throws -> PickleValue {
        do { return try unpickler.load() } catch let error as PickleError {
            throw PyTorchCheckpointError(path: path, reason: error.description)
        }
    }
}

/// A PyTorch checkpoint that could not be read: the file and what is wrong with it.
public struct PyTorchCheckpointError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "\(path) \(reason)" }
}
