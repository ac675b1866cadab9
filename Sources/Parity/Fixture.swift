import Tapestry
import TapestryNN

/// A reference fixture (shared/fixtures/FORMAT.md): inputs, outputs, losses and gradients
/// recorded from the original PyTorch code, with the configuration in its metadata.
public struct Fixture {
    public let path: String
    public let file: SafetensorsFile
    /// `model` metadata: which runner reproduces it.
    public let model: String
    /// `config` metadata, parsed.
    public let config: JSONValue
    /// The weight recipe's seed.
    public let seed: UInt64

    public init(path: String) throws {
        let file = try SafetensorsFile.read(path)
        guard file.metadata["format"] == "zoo-fixture-1" else {
            throw FixtureError(path: path, problem: "not a zoo-fixture-1 file (metadata format is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"))")
        }
        guard let model = file.metadata["model"] else { throw FixtureError(path: path, problem: "metadata has no model") }
        let config: JSONValue
        do { config = try JSONValue.parse(file.metadata["config"] ?? "{}") } catch {
            throw FixtureError(path: path, problem: "config metadata is not JSON: \(error)")
        }
        self.path = path
        self.file = file
        self.model = model
        self.config = config
        seed = UInt64(file.metadata["seed"] ?? "0") ?? 0
    }

    /// The tensor stored as `name`, or an error naming it.
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = file[name] else { throw FixtureError(path: path, problem: "missing tensor \(name)") }
        return t
    }

    /// `input.<name>`, floating-point inputs converted to `dtype`.
    public func input(_ name: String, dtype: DType) throws -> Tensor {
        let t = try tensor("input.\(name)")
        return t.dtype.isFloatingPoint ? t.cast(to: dtype) : t
    }

    /// An integer from the config.
    public func int(_ key: String) throws -> Int {
        guard let v = config[key]?.intValue else { throw FixtureError(path: path, problem: "config has no integer \(key)") }
        return v
    }

    public func double(_ key: String) throws -> Double {
        guard let v = config[key]?.doubleValue else { throw FixtureError(path: path, problem: "config has no number \(key)") }
        return v
    }

    public func bool(_ key: String) throws -> Bool {
        guard case .bool(let v)? = config[key] else { throw FixtureError(path: path, problem: "config has no boolean \(key)") }
        return v
    }

    public func ints(_ key: String) throws -> [Int] {
        guard let items = config[key]?.arrayValue, case let values = items.compactMap(\.intValue), values.count == items.count else {
            throw FixtureError(path: path, problem: "config has no integer list \(key)")
        }
        return values
    }
}

/// A fixture that cannot be run: unreadable, malformed, or for a model nobody registered.
public struct FixtureError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

/// What a runner produced for a fixture, for `ParityCheck` to compare.
public struct FixtureRun {
    /// Compared with `output.<name>`.
    public var outputs: [String: Tensor]
    /// Compared with `loss.<name>` (other than `total`).
    public var losses: [String: Tensor]
    /// The differentiated scalar; when nil, Σ_o sum(output_o · input.cotangent.o).
    public var total: Tensor?
    /// Leaves that require gradients, compared with `grad.<name>`.
    public var inputs: [String: Tensor]
    /// Supplies parameters and buffers by state-dict key (`grad.<key>`, `param.checksum.<key>`).
    public var module: Module?
    /// Other tensors compared exactly (e.g. `match.0.pred`).
    public var exact: [String: Tensor]
    /// Tensors compared with the fixture tensor of exactly this name, at output tolerance.
    public var named: [String: Tensor]
    /// Checks the runner made itself (a name, and nil when it passed or the reason it failed).
    public var checks: [(name: String, failure: String?)]
    /// The module's state dict before the pass, for `param.checksum` (a training-mode pass
    /// moves BatchNorm's running statistics); nil: the module's state after it.
    public var initialState: [String: Tensor]?

    public init(outputs: [String: Tensor] = [:], losses: [String: Tensor] = [:], total: Tensor? = nil, inputs: [String: Tensor] = [:],
                module: Module? = nil, exact: [String: Tensor] = [:], named: [String: Tensor] = [:],
                checks: [(name: String, failure: String?)] = [], initialState: [String: Tensor]? = nil) {
        (self.outputs, self.losses, self.total, self.inputs, self.module, self.exact) = (outputs, losses, total, inputs, module, exact)
        (self.named, self.checks, self.initialState) = (named, checks, initialState)
    }
}

/// Reproduces one kind of fixture (`model` metadata) in the given dtype.
public typealias FixtureRunner = @Sendable (Fixture, DType) throws -> FixtureRun
