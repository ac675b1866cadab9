/// The values the restricted `Unpickler` builds from a PyTorch checkpoint's pickle: Python's
/// plain containers, the persistent ids of storages, tensor records, and records of objects.

/// A value a pickle builds. Lists, dictionaries and objects are shared references, as in
/// Python (a pickle may fill a list after putting it in a dictionary).
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for 64 bits: its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case set([PickleValue])
    /// One of the accepted globals, by "module.name" (a dtype, a storage type, a class).
    case global(String)
    /// A persistent id: where a storage's bytes are (resolved by the checkpoint reader).
    case storage(StorageReference)
    case tensor(TensorRecord)
    /// An object with named fields (`argparse.Namespace`).
    case object(PickleObject)

    /// The dictionary, if this is one.
    public var dictionary: PickleDict? { if case .dict(let d) = self { return d } else { return nil } }

    /// Whether `container` (a list, dictionary or object) is this value or lies inside it,
    /// at any depth. A container put inside itself would be a reference cycle, which Swift
    /// never frees; no checkpoint of tensors has one.
    func reaches(_ container: AnyObject) -> Bool {
        var seen = Set<ObjectIdentifier>(), pending = [self]
        while let value = pending.popLast() {
            let children: [PickleValue]
            switch value {
            case .tuple(let items), .set(let items): children = items
            case .list(let list): children = seen.insert(ObjectIdentifier(list)).inserted ? list.items : []
            case .dict(let dict): children = seen.insert(ObjectIdentifier(dict)).inserted ? dict.keys + dict.values : []
            case .object(let object): children = seen.insert(ObjectIdentifier(object)).inserted ? Array(object.fields.values) : []
            default: children = []
            }
            if seen.contains(ObjectIdentifier(container)) { return true }
            pending += children
        }
        return false
    }
}

public final class PickleList { public var items: [PickleValue] = [] }

/// A dictionary in insertion order; keys are compared by their description.
public final class PickleDict {
    public private(set) var keys: [PickleValue] = []
    public private(set) var values: [PickleValue] = []
    private var index: [String: Int] = [:]

    public subscript(key: String) -> PickleValue? { index[PickleValue.string(key).keyDescription].map { values[$0] } }

    func set(_ key: PickleValue, _ value: PickleValue) {
        let name = key.keyDescription
        if let i = index[name] { values[i] = value } else {
            index[name] = keys.count
            keys.append(key)
            values.append(value)
        }
    }
}

public final class PickleObject {
    public let className: String
    public var fields: [String: PickleValue] = [:]
    init(className: String) { self.className = className }
}

/// `('storage', type, key, location, count[, view])`: storage `key` holds `count` elements
/// of `dtype`; a legacy view starts `viewOffset` elements into it.
public struct StorageReference {
    public var key: String
    public var dtype: TorchDType
    public var count: Int
    public var viewOffset = 0
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`: a view of a storage.
public struct TensorRecord {
    public var storage: StorageReference
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]
}

/// Element types of PyTorch storages, by the storage class or dtype that names them.
public enum TorchDType: String, Sendable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// "torch.FloatStorage" (legacy and zip) → .float32.
    static let storageClasses: [String: TorchDType] = [
        "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
        "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8, "torch.BoolStorage": .bool,
    ]
    /// "torch.float32" → .float32 (dtypes named in a pickle).
    static let dtypeGlobals: [String: TorchDType] = [
        "torch.float32": .float32, "torch.float": .float32, "torch.float64": .float64, "torch.double": .float64,
        "torch.float16": .float16, "torch.half": .float16, "torch.bfloat16": .bfloat16, "torch.int64": .int64, "torch.long": .int64,
        "torch.int32": .int32, "torch.int": .int32, "torch.int16": .int16, "torch.int8": .int8, "torch.uint8": .uint8, "torch.bool": .bool,
    ]
}

extension PickleValue {
    /// A dictionary key's identity: strings and integers by value.
    var keyDescription: String {
        switch self {
        case .string(let s): return "s:" + s
        case .int(let n): return "i:\(n)"
        case .bool(let b): return "b:\(b)"
        case .float(let x): return "f:\(x)"
        case .none: return "none"
        case .tuple(let items): return "t:(" + items.map(\.keyDescription).joined(separator: ",") + ")"
        default: return "other"
        }
    }
}
