/// A restricted reader of Python's pickle format (protocols 2–5), for what `torch.save`
/// writes: tensors, storages and plain containers, the objects PyTorch's own
/// `torch.load(weights_only=True)` accepts, plus `argparse.Namespace` records.
///
/// A pickle is a program for a small stack machine, and an ordinary unpickler calls any
/// function a pickle names (`os.system`, `builtins.eval`). This one never calls anything:
/// the globals it accepts are a fixed list (`Unpickler.allowedGlobals`), each interpreted
/// here by hand (an `OrderedDict` becomes a dictionary, `_rebuild_tensor_v2` a tensor
/// record); any other global stops the reading with `PickleError.forbiddenGlobal`.

/// Why a pickle was not read.
public enum PickleError: Error, Equatable, CustomStringConvertible {
    /// The pickle names a global outside the accepted list (it would run code).
    case forbiddenGlobal(String)
    case truncated(at: Int)
    case unknownOpcode(UInt8, at: Int)
    case malformed(String, at: Int)

    public var description: String {
        switch self {
        case .forbiddenGlobal(let name): return "refers to \(name), which a checkpoint of tensors never needs; refused without running anything"
        case .truncated(let at): return "pickle ends early (at byte \(at))"
        case let .unknownOpcode(code, at): return String(format: "pickle opcode 0x%02x at byte %d is not one a checkpoint uses", code, at)
        case let .malformed(why, at): return "malformed pickle at byte \(at): \(why)"
        }
    }
}

/// Runs one pickle (up to its STOP) from `bytes` starting at `position`.
public struct Unpickler {
    /// The globals a checkpoint may name: PyTorch's `weights_only` list and `argparse.Namespace`.
    public static let allowedGlobals: Set<String> = Set(TorchDType.storageClasses.keys).union(TorchDType.dtypeGlobals.keys).union([
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch.storage.UntypedStorage", "torch.Size",
        "builtins.set", "builtins.frozenset", "builtins.slice", "argparse.Namespace",
        "__builtin__.set", "__builtin__.frozenset", "__builtin__.slice",
    ])

    let bytes: [UInt8]
    public private(set) var position: Int
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Turns a persistent id into a value (the checkpoint reader's storage references).
    let persistentLoad: (PickleValue) throws -> PickleValue

    public init(bytes: [UInt8], position: Int = 0, persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        (self.bytes, self.position, self.persistentLoad) = (bytes, position, persistentLoad)
    }

    /// The pickle's value; `position` is then just past its STOP.
    public mutating func load() throws -> PickleValue {
        while true {
            let at = position
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()                                               // PROTO
            case 0x95: try skip(8)                                                  // FRAME
            case 0x2e:                                                              // STOP
                guard stack.count > (marks.last ?? 0), let top = stack.popLast() else {
                    throw PickleError.malformed("STOP with nothing above the last MARK", at: at)
                }
                return top
            case 0x28: marks.append(stack.count)                                    // MARK
            case 0x4e: stack.append(.none)                                          // NONE
            case 0x88: stack.append(.bool(true))                                    // NEWTRUE
            case 0x89: stack.append(.bool(false))                                   // NEWFALSE
            case 0x4b: stack.append(.int(Int(try byte())))                          // BININT1
            case 0x4d: stack.append(.int(Int(try littleEndian(2))))                 // BININT2
            case 0x4a: stack.append(.int(Int(Int32(truncatingIfNeeded: try littleEndian(4)))))   // BININT
            case 0x8a: stack.append(try long(count: Int(try byte())))               // LONG1
            case 0x8b: stack.append(try long(count: try length(4)))                 // LONG4
            case 0x47: stack.append(.float(Double(bitPattern: try bigEndian(8))))   // BINFLOAT
            case 0x58: stack.append(.string(try text(try length(4), at: at)))       // BINUNICODE
            case 0x8c: stack.append(.string(try text(Int(try byte()), at: at)))     // SHORT_BINUNICODE
            case 0x8d: stack.append(.string(try text(try length(8), at: at)))       // BINUNICODE8
            case 0x55: stack.append(.bytes(try read(Int(try byte()))))              // SHORT_BINSTRING
            case 0x54: stack.append(.bytes(try read(try length(4))))                // BINSTRING
            case 0x43: stack.append(.bytes(try read(Int(try byte()))))              // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(try read(try length(4))))                // BINBYTES
            case 0x8e: stack.append(.bytes(try read(try length(8))))                // BINBYTES8
            case 0x29: stack.append(.tuple([]))                                     // EMPTY_TUPLE
            case 0x85: stack.append(.tuple(try pop(1, at: at)))                     // TUPLE1
            case 0x86: stack.append(.tuple(try pop(2, at: at)))                     // TUPLE2
            case 0x87: stack.append(.tuple(try pop(3, at: at)))                     // TUPLE3
            case 0x74: stack.append(.tuple(try popMark(at: at)))                    // TUPLE
            case 0x5d: stack.append(.list(PickleList()))                            // EMPTY_LIST
            case 0x6c:                                                              // LIST
                let list = PickleList()
                list.items = try popMark(at: at)
                stack.append(.list(list))
            case 0x61: try append(try pop(1, at: at), at: at)                       // APPEND
            case 0x65: try append(try popMark(at: at), at: at)                      // APPENDS
            case 0x7d: stack.append(.dict(PickleDict()))                            // EMPTY_DICT
            case 0x64:                                                              // DICT
                let dict = PickleDict()
                try setItems(dict, try popMark(at: at), at: at)
                stack.append(.dict(dict))
            case 0x73:                                                              // SETITEM
                let pair = try pop(2, at: at)
                try setItems(try top(at: at), pair, at: at)
            case 0x75:                                                              // SETITEMS
                let items = try popMark(at: at)
                try setItems(try top(at: at), items, at: at)
            case 0x8f: stack.append(.set([]))                                       // EMPTY_SET
            case 0x90:                                                              // ADDITEMS
                let items = try popMark(at: at)
                guard case .set(let existing) = stack.popLast() else { throw PickleError.malformed("ADDITEMS without a set", at: at) }
                stack.append(.set(existing + items))
            case 0x91: stack.append(.set(try popMark(at: at)))                      // FROZENSET
            case 0x30: _ = try pop(1, at: at)                                       // POP
            case 0x31: _ = try popMark(at: at)                                      // POP_MARK
            case 0x32: stack.append(try pop(1, at: at)[0]); stack.append(stack.last!)   // DUP
            case 0x71: memo[Int(try byte())] = try peek(at: at)                     // BINPUT
            case 0x72: memo[try memoIndex()] = try peek(at: at)                     // LONG_BINPUT
            case 0x94: memo[memo.count] = try peek(at: at)                          // MEMOIZE
            case 0x68: stack.append(try recall(Int(try byte()), at: at))            // BINGET
            case 0x6a: stack.append(try recall(try memoIndex(), at: at))            // LONG_BINGET
            case 0x63:                                                              // GLOBAL "module\nname\n"
                let module = try line(at: at), name = try line(at: at)
                stack.append(try global(module, name))
            case 0x93:                                                              // STACK_GLOBAL
                let parts = try pop(2, at: at)
                guard case .string(let module) = parts[0], case .string(let name) = parts[1] else {
                    throw PickleError.malformed("STACK_GLOBAL needs two strings", at: at)
                }
                stack.append(try global(module, name))
            case 0x51: stack.append(try persistentLoad(try pop(1, at: at)[0]))     // BINPERSID
            case 0x52:                                                              // REDUCE
                let parts = try pop(2, at: at)
                guard case .tuple(let arguments) = parts[1] else { throw PickleError.malformed("REDUCE needs an argument tuple", at: at) }
                stack.append(try call(parts[0], arguments, at: at))
            case 0x81:                                                              // NEWOBJ
                let parts = try pop(2, at: at)
                guard case .tuple(let arguments) = parts[1] else { throw PickleError.malformed("NEWOBJ needs an argument tuple", at: at) }
                stack.append(try call(parts[0], arguments, at: at))
            case 0x62:                                                              // BUILD
                let state = try pop(1, at: at)[0]
                try build(try peek(at: at), state: state, at: at)
            default: throw PickleError.unknownOpcode(opcode, at: at)
            }
        }
    }

    // MARK: The accepted globals, interpreted

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        let full = module + "." + name
        guard Self.allowedGlobals.contains(full) else { throw PickleError.forbiddenGlobal(full) }
        return .global(full)
    }

    private func call(_ callable: PickleValue, _ arguments: [PickleValue], at: Int) throws -> PickleValue {
        guard case .global(let name) = callable else { throw PickleError.malformed("calls something that is not an accepted global", at: at) }
        switch name {
        case "collections.OrderedDict":
            return .dict(PickleDict())
        case "torch._utils._rebuild_tensor_v2":
            guard arguments.count >= 4, case .storage(let storage) = arguments[0], case .int(let offset) = arguments[1],
                  let shape = Self.integers(arguments[2]), let strides = Self.integers(arguments[3]), shape.count == strides.count,
                  offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw PickleError.malformed("_rebuild_tensor_v2 needs (storage, offset, size, stride, …) with sizes and strides that agree", at: at)
            }
            return .tensor(TensorRecord(storage: storage, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = arguments.first, case .tensor = data else { throw PickleError.malformed("\(name) needs a tensor", at: at) }
            return data
        case "torch.Size":
            guard arguments.count == 1, let sizes = Self.integers(arguments[0]) else { throw PickleError.malformed("torch.Size needs integers", at: at) }
            return .tuple(sizes.map { .int($0) })
        case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset":
            guard arguments.count <= 1 else { throw PickleError.malformed("\(name) takes one iterable", at: at) }
            switch arguments.first {
            case nil: return .set([])
            case .list(let list): return .set(list.items)
            case .tuple(let items), .set(let items): return .set(items)
            default: throw PickleError.malformed("\(name) of something not iterable", at: at)
            }
        case "builtins.slice", "__builtin__.slice":
            return .tuple(arguments)
        case "argparse.Namespace":
            return .object(PickleObject(className: name))
        default:
            throw PickleError.malformed("\(name) is a type, not something to call", at: at)
        }
    }

    private func build(_ target: PickleValue, state: PickleValue, at: Int) throws {
        switch target {
        case .object(let object):
            guard case .dict(let fields) = state else { throw PickleError.malformed("an object's state must be a dictionary", at: at) }
            try refuseCycle(into: object, fields.values, at: at)
            for (key, value) in zip(fields.keys, fields.values) {
                guard case .string(let name) = key else { throw PickleError.malformed("an object's field names must be strings", at: at) }
                object.fields[name] = value
            }
        case .dict, .tensor:
            break   // An OrderedDict's `_metadata` (module versions), a parameter's hooks: nothing a reader needs.
        default:
            throw PickleError.malformed("BUILD on a value that has no state", at: at)
        }
    }

    static func integers(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items) = value else { return nil }
        var numbers: [Int] = []
        for item in items {
            guard case .int(let n) = item else { return nil }
            numbers.append(n)
        }
        return numbers
    }

    // MARK: Stack and input

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw PickleError.truncated(at: position) }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func skip(_ count: Int) throws {
        guard count <= bytes.count - position else { throw PickleError.truncated(at: position) }
        position += count
    }

    private mutating func read(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= bytes.count - position else { throw PickleError.truncated(at: position) }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    private mutating func littleEndian(_ count: Int) throws -> UInt64 {
        try read(count).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    private mutating func bigEndian(_ count: Int) throws -> UInt64 {
        try read(count).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// A length field: checked against what is left before anything is read or allocated.
    private mutating func length(_ count: Int) throws -> Int {
        let at = position
        let value = try littleEndian(count)
        guard value <= UInt64(bytes.count - position) else { throw PickleError.truncated(at: at) }
        return Int(value)
    }

    /// The 4-byte memo index of LONG_BINPUT and LONG_BINGET (a key, not a length: it may
    /// exceed the bytes that follow).
    private mutating func memoIndex() throws -> Int {
        Int(try littleEndian(4))
    }

    private mutating func long(count: Int) throws -> PickleValue {
        let digits = try read(count)
        guard count <= 8 else { return .bigInt(digits) }
        guard count > 0 else { return .int(0) }
        let unsigned = digits.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let shift = UInt64(64 - 8 * count)
        return .int(Int(Int64(bitPattern: unsigned << shift) >> Int64(shift)))     // sign-extended
    }

    private mutating func text(_ count: Int, at: Int) throws -> String {
        guard let string = String(validating: try read(count), as: UTF8.self) else { throw PickleError.malformed("a string is not UTF-8", at: at) }
        return string
    }

    private mutating func line(at: Int) throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0a) else { throw PickleError.truncated(at: position) }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func pop(_ count: Int, at: Int) throws -> [PickleValue] {
        guard stack.count >= count + (marks.last ?? 0) else { throw PickleError.malformed("stack underflow", at: at) }
        defer { stack.removeLast(count) }
        return Array(stack.suffix(count))
    }

    private mutating func popMark(at: Int) throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw PickleError.malformed("no MARK to pop to", at: at) }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private func peek(at: Int) throws -> PickleValue {
        guard let top = stack.last else { throw PickleError.malformed("empty stack", at: at) }
        return top
    }

    private func top(at: Int) throws -> PickleDict {
        guard case .dict(let dict) = stack.last else { throw PickleError.malformed("SETITEM(S) without a dictionary", at: at) }
        return dict
    }

    private func recall(_ key: Int, at: Int) throws -> PickleValue {
        guard let value = memo[key] else { throw PickleError.malformed("memo entry \(key) was never stored", at: at) }
        return value
    }

    private mutating func append(_ items: [PickleValue], at: Int) throws {
        guard case .list(let list) = stack.last else { throw PickleError.malformed("APPEND(S) without a list", at: at) }
        try refuseCycle(into: list, items, at: at)
        list.items += items
    }

    /// Refuses to put `container` inside itself (a reference cycle: never freed).
    private func refuseCycle(into container: AnyObject, _ items: [PickleValue], at: Int) throws {
        if items.contains(where: { $0.reaches(container) }) {
            throw PickleError.malformed("a container put inside itself (a reference cycle, which no checkpoint of tensors has)", at: at)
        }
    }

    private func setItems(_ dict: PickleDict, _ items: [PickleValue], at: Int) throws {
        guard items.count % 2 == 0 else { throw PickleError.malformed("an odd number of dictionary items", at: at) }
        try refuseCycle(into: dict, items, at: at)
        for i in stride(from: 0, to: items.count, by: 2) { dict.set(items[i], items[i + 1]) }
    }
}
