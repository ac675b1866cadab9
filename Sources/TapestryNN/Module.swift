import Foundation
import Tapestry
import TorchCheckpoint

/// The base of every layer and model.
///
/// A module finds its parameters, buffers and child modules by reflection and names them
/// like PyTorch state-dict keys: a property `inProjWeight` becomes `in_proj_weight`, an
/// array of modules `layers` becomes `layers.0`, `layers.1`, …, and nested modules join with
/// dots (`transformer.encoder.layers.0.self_attn.in_proj_weight`). A module whose names do
/// not follow the rule lists exceptions in `keyOverrides`. So a PyTorch checkpoint converted
/// to safetensors loads by name.
///
/// Order: a module's own parameters and buffers come first, then its children, each in
/// declaration order, which matches PyTorch's registration order when properties are
/// declared in the same order as the original `__init__` assigns them.
open class Module {
    /// True in training mode (batch statistics, dropout), false in evaluation mode.
    public private(set) var training = true

    public init() {}

    /// Property name → state-dict key, for names the snake_case rule does not produce.
    open var keyOverrides: [String: String] { [:] }

    /// State-dict keys this module accepts on load but does not keep (for example the
    /// `num_batches_tracked` that DETR's frozen batch norm drops).
    open var ignoredStateKeys: Set<String> { [] }

    /// Direct members, in declaration order: (key, member).
    func members() -> [(key: String, value: Any)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror { mirrors.insert(m, at: 0); mirror = m.superclassMirror }
        let overrides = keyOverrides
        return mirrors.flatMap { $0.children }.compactMap { child in
            guard let label = child.label, !label.hasPrefix("_"), label != "training" else { return nil }
            return (overrides[label] ?? SettingsCoding.snakeCase(label), child.value)
        }
    }

    /// Child modules with their keys (arrays of modules become `name.0`, `name.1`, …).
    open func namedChildren() -> [(String, Module)] {
        members().flatMap { key, value -> [(String, Module)] in
            if let module = value as? Module { return [(key, module)] }
            if let list = value as? [Module] { return list.enumerated().map { ("\(key).\($0.offset)", $0.element) } }
            return []
        }
    }

    /// This module's own parameters (not its children's).
    func ownParameters() -> [(String, Parameter)] {
        members().flatMap { key, value -> [(String, Parameter)] in
            if let p = value as? Parameter { return [(key, p)] }
            if let list = value as? [Parameter] { return list.enumerated().map { ("\(key).\($0.offset)", $0.element) } }
            return []
        }
    }

    func ownBuffers() -> [(String, Buffer)] {
        members().compactMap { key, value in (value as? Buffer).map { (key, $0) } }
    }

    /// Every parameter of this module and its descendants, with full keys. A parameter
    /// shared by several modules (Deformable DETR's class head used by every decoder layer)
    /// appears once, under its first key, as in PyTorch's `named_parameters()`; with
    /// `includingShared` it appears under every key, as in the state dict.
    public func namedParameters(includingShared: Bool = false) -> [(String, Parameter)] {
        let all = ownParameters() + namedChildren().flatMap { prefix, child in
            child.namedParameters(includingShared: true).map { ("\(prefix).\($0.0)", $0.1) }
        }
        guard !includingShared else { return all }
        var seen = Set<ObjectIdentifier>()
        return all.filter { seen.insert(ObjectIdentifier($0.1)).inserted }
    }

    /// Every buffer of this module and its descendants, with full keys.
    public func namedBuffers() -> [(String, Buffer)] {
        ownBuffers() + namedChildren().flatMap { prefix, child in child.namedBuffers().map { ("\(prefix).\($0.0)", $0.1) } }
    }

    /// Every module below this one (itself first), with its key path ("" for itself).
    public func namedModules() -> [(String, Module)] {
        [("", self)] + namedChildren().flatMap { prefix, child in
            child.namedModules().map { ($0.0.isEmpty ? prefix : "\(prefix).\($0.0)", $0.1) }
        }
    }

    public var parameters: [Parameter] { namedParameters().map(\.1) }

    /// Parameters and buffers by key, in PyTorch's state-dict order (per module: parameters,
    /// buffers, then children).
    public func stateDict() -> [(String, Tensor)] {
        ownParameters().map { ($0.0, $0.1.value.detached()) } + ownBuffers().map { ($0.0, $0.1.value) }
            + namedChildren().flatMap { prefix, child in child.stateDict().map { ("\(prefix).\($0.0)", $0.1) } }
    }

    /// Number of parameter values (trainable ones only when `trainableOnly`).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        namedParameters().filter { !trainableOnly || $0.1.requiresGrad }.reduce(0) { $0 + $1.1.value.count }
    }

    /// Switches this module and all its descendants to training (or evaluation) mode.
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() { module.training = on }
    }

    public func eval() { train(false) }

    /// Stops (or restarts) training the parameters whose key satisfies `predicate`.
    /// Returns the keys changed.
    @discardableResult
    public func freeze(matching predicate: (String) -> Bool, frozen: Bool = true) -> [String] {
        namedParameters().filter { predicate($0.0) }.map { key, parameter in
            parameter.requiresGrad = !frozen
            return key
        }
    }

    /// Converts every floating-point parameter and buffer to `dtype`.
    public func convert(to dtype: DType) {
        check(dtype.isFloatingPoint, "convert(to:): \(dtype) is not a floating-point dtype")
        for (_, p) in namedParameters() where p.value.dtype.isFloatingPoint { p.value = p.value.detached().cast(to: dtype) }
        for (_, b) in namedBuffers() where b.value.dtype.isFloatingPoint { b.value = b.value.cast(to: dtype) }
    }

    /// Copies tensors from `state` into parameters and buffers by key, converting the dtype
    /// of floating-point values to the module's. Never traps: every key that is missing,
    /// unexpected or of the wrong shape is listed in the report, and mismatched tensors are
    /// left untouched. With `strict`, a report that is not clean means nothing was loaded.
    @discardableResult
    public func load(_ state: [String: Tensor], strict: Bool = true) -> LoadReport {
        var report = LoadReport()
        var targets: [String: (shape: [Int], dtype: DType, assign: (Tensor) -> Void)] = [:]
        for (key, p) in namedParameters(includingShared: true) {
            targets[key] = (p.shape, p.value.dtype, { p.value = $0 })
        }
        for (key, b) in namedBuffers() {
            targets[key] = (b.shape, b.value.dtype, { b.value = $0 })
        }
        var ignored: Set<String> = []
        for (path, module) in namedModules() {
            for name in module.ignoredStateKeys { ignored.insert(path.isEmpty ? name : "\(path).\(name)") }
        }
        var assignments: [() -> Void] = []
        for (key, tensor) in state.sorted(by: { $0.key < $1.key }) {
            guard let target = targets[key] else {
                if !ignored.contains(key) { report.unexpected.append(key) }
                continue
            }
            guard tensor.shape == target.shape else {
                report.shapeMismatches.append(.init(key: key, expected: target.shape, found: tensor.shape))
                continue
            }
            guard tensor.dtype.isFloatingPoint == target.dtype.isFloatingPoint else {
                report.dtypeMismatches.append(.init(key: key, expected: target.dtype, found: tensor.dtype))
                continue
            }
            let value = tensor.detached().cast(to: target.dtype).contiguous()
            assignments.append { target.assign(value) }
            report.loaded.append(key)
        }
        report.missing = targets.keys.filter { state[$0] == nil }.sorted()
        if !strict || report.isClean { assignments.forEach { $0() } } else { report.loaded = [] }
        return report
    }
}

/// What `Module.load` did with a state dict.
public struct LoadReport: CustomStringConvertible, Equatable {
    public struct ShapeMismatch: Equatable { public let key: String; public let expected: [Int]; public let found: [Int] }
    public struct DTypeMismatch: Equatable { public let key: String; public let expected: DType; public let found: DType }

    public var loaded: [String] = []
    /// Module keys with no tensor in the state dict.
    public var missing: [String] = []
    /// State-dict keys the module does not have.
    public var unexpected: [String] = []
    public var shapeMismatches: [ShapeMismatch] = []
    public var dtypeMismatches: [DTypeMismatch] = []

    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty && dtypeMismatches.isEmpty }

    public var description: String {
        var lines = ["loaded \(loaded.count) tensors"]
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            let shown = items.prefix(10).joined(separator: ", ") + (items.count > 10 ? ", … (\(items.count) in all)" : "")
            lines.append("\(title): \(shown)")
        }
        list("missing", missing)
        list("unexpected", unexpected)
        list("shape mismatch", shapeMismatches.map { "\($0.key) (module \($0.expected), file \($0.found))" })
        list("dtype mismatch", dtypeMismatches.map { "\($0.key) (module \($0.expected), file \($0.found))" })
        return lines.joined(separator: "; ")
    }
}

/// A module error at a library boundary (loading or saving weights).
public struct ModuleWeightsError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

extension Module {
    /// Saves parameters and buffers as safetensors, by state-dict key (atomically).
    public func save(to path: String, metadata: [String: String] = [:]) throws(SafetensorsError) {
        try SafetensorsFile(tensors: stateDict().map { (name: $0.0, tensor: $0.1) }, metadata: metadata).write(to: path)
    }

    /// Loads parameters and buffers by key from a safetensors file, or from a PyTorch
    /// checkpoint (`.pth`/`.pt`: its state dict, or the one under `model`/`state_dict`; read
    /// natively, nothing in it run). Throws when the file is unreadable or, with `strict`,
    /// when the report is not clean (naming the missing and unexpected keys).
    @discardableResult
    public func load(from path: String, strict: Bool = true) throws -> LoadReport {
        let tensors = Self.isPyTorchCheckpoint(path) ? try PyTorchCheckpoint.read(path).stateDict() : try SafetensorsFile.read(path).tensors
        let report = load(Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }), strict: strict)
        if strict && !report.isClean { throw ModuleWeightsError(path: path, reason: report.description) }
        return report
    }

    /// PyTorch's file names: `.pth`, `.pt`.
    public static func isPyTorchCheckpoint(_ path: String) -> Bool { ["pth", "pt"].contains((path as NSString).pathExtension.lowercased()) }
}
