import Foundation

/// One field of a settings group, written once with its default and its valid range:
///
///     @Setting(1...) var nheads = 8
///     @Setting(0..<1) var dropout = 0.1
///     @Setting(oneOf: ["resnet18", "resnet50"]) var backbone = "resnet50"
///
/// It encodes as its bare value. The range is part of the declaration, so a value read
/// from JSON is checked against the range of a default instance (`SettingsGroup.problems`).
@propertyWrapper
public struct Setting<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value
    /// What values are valid ("at least 1", "one of a, b"), or nil when any is.
    public let rule: String?
    let isValid: @Sendable (Value) -> Bool

    public init(wrappedValue: Value) {
        (self.wrappedValue, rule, isValid) = (wrappedValue, nil, { _ in true })
    }

    public init(wrappedValue: Value, _ rule: String, _ isValid: @escaping @Sendable (Value) -> Bool) {
        (self.wrappedValue, self.rule, self.isValid) = (wrappedValue, rule, isValid)
    }

    public init(wrappedValue: Value, oneOf choices: [Value]) where Value: CustomStringConvertible {
        self.init(wrappedValue: wrappedValue, "one of " + choices.map(\.description).joined(separator: ", ")) { choices.contains($0) }
    }

    public init(wrappedValue: Value, _ range: ClosedRange<Value>) where Value: Comparable {
        self.init(wrappedValue: wrappedValue, "from \(range.lowerBound) to \(range.upperBound)") { range.contains($0) }
    }

    public init(wrappedValue: Value, _ range: Range<Value>) where Value: Comparable {
        self.init(wrappedValue: wrappedValue, "at least \(range.lowerBound) and below \(range.upperBound)") { range.contains($0) }
    }

    public init(wrappedValue: Value, _ range: PartialRangeFrom<Value>) where Value: Comparable {
        self.init(wrappedValue: wrappedValue, "at least \(range.lowerBound)") { range.contains($0) }
    }

    /// A number strictly above `bound` (a learning rate, a scale).
    public init(wrappedValue: Value, above bound: Value) where Value: Comparable {
        self.init(wrappedValue: wrappedValue, "above \(bound)") { $0 > bound }
    }

    public init(from decoder: Decoder) throws {
        do {
            self.init(wrappedValue: try decoder.singleValueContainer().decode(Value.self))
        } catch {
            let kind = Value.self == Int.self || Value.self == UInt64.self ? "a whole number" : "\(Value.self)"
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(kind)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }

    public static func == (a: Setting, b: Setting) -> Bool { a.wrappedValue == b.wrappedValue }
}

/// A `Setting` seen without its value type, for checking one instance's values against
/// another's rules.
protocol AnySetting {
    var anyValue: Any { get }
    var rule: String? { get }
    func accepts(_ value: Any) -> Bool
}

extension Setting: AnySetting {
    var anyValue: Any { wrappedValue }
    func accepts(_ value: Any) -> Bool {
        guard let value = value as? Value else { return false }
        if let number = value as? Double, !number.isFinite { return false }
        return isValid(value)
    }
}

/// A section of settings (a model's architecture, its loss, the trainer, the data): a struct
/// of `@Setting` fields whose JSON keys are the fields' names in snake_case
/// (`SettingsCoding`), so no group writes `CodingKeys` by hand.
public protocol SettingsGroup: Codable, Sendable, Equatable {
    /// The defaults.
    init()
    /// A combination of fields that cannot work together, as a sentence (nil when fine).
    /// Each field's own range is checked by `problems()` before this is asked.
    func combinationProblem() -> String?
    /// Every value outside its field's range, then the combination problem, if any.
    func problems() -> [String]
}

extension SettingsGroup {
    public func combinationProblem() -> String? { nil }

    /// Every value outside its field's range ("hidden_dim is 0, must be at least 1"), then
    /// the combination problem, if any (found by reflection over the `@Setting` fields).
    public func problems() -> [String] {
        let rules = Dictionary(Mirror(reflecting: Self()).children.compactMap { child in
            (child.value as? AnySetting).map { (child.label ?? "", $0) }
        }, uniquingKeysWith: { a, _ in a })
        var found: [String] = []
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, let setting = child.value as? AnySetting, let template = rules[label] else { continue }
            if !template.accepts(setting.anyValue) {
                let key = SettingsCoding.snakeCase(label.hasPrefix("_") ? String(label.dropFirst()) : label)
                found.append("\(key) is \(SettingsCoding.describe(setting.anyValue)), must be \(template.rule ?? "finite")")
            }
        }
        if found.isEmpty, let problem = combinationProblem() { found.append(problem) }
        return found
    }
}

/// The fields a model adds to a settings group that several models share (`Base`): the
/// two are one flat section of a settings file, each key once (`Extended`).
public protocol SettingsExtension: SettingsGroup {
    associatedtype Base: SettingsGroup
    /// The shared fields' defaults as this model's paper has them (SMCA: 300 queries).
    static func adjustDefaults(_ base: inout Base)
    /// A combination of this model's fields and the shared ones that cannot work together.
    func combinationProblem(with base: Base) -> String?
}

extension SettingsExtension {
    public static func adjustDefaults(_ base: inout Base) {}
    public func combinationProblem(with base: Base) -> String? { nil }
}

/// A shared settings group and a model's own fields read and written as one flat section:
/// `config.hiddenDim` reads the shared field, `config.smooth` the model's own.
@dynamicMemberLookup
public struct Extended<Own: SettingsExtension>: SettingsGroup {
    public var base: Own.Base
    public var own: Own

    public init() {
        var base = Own.Base()
        Own.adjustDefaults(&base)
        (self.base, own) = (base, Own())
    }

    public init(from decoder: Decoder) throws {
        (base, own) = (try Own.Base(from: decoder), try Own(from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        try base.encode(to: encoder)
        try own.encode(to: encoder)
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Own.Base, T>) -> T {
        get { base[keyPath: path] }
        set { base[keyPath: path] = newValue }
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Own, T>) -> T {
        get { own[keyPath: path] }
        set { own[keyPath: path] = newValue }
    }

    /// Both groups' problems; when there are none, the combination of the two.
    public func problems() -> [String] {
        let found = base.problems() + own.problems()
        guard found.isEmpty, let problem = own.combinationProblem(with: base) else { return found }
        return [problem]
    }
}

/// The one key strategy of every settings file: Swift field names in camelCase are JSON keys
/// in snake_case (`hiddenDim` ↔ `hidden_dim`, `encNPoints` ↔ `enc_n_points`), which are the
/// original code's argument names.
public enum SettingsCoding {
    public static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                if !out.isEmpty { out += "_" }
                out += character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// A list of counts written with dashes ("3-3-1-3", Stacked-DETR's `stack_layers`) when it
    /// is `count` whole numbers, none negative; nil otherwise.
    public static func dashedCounts(_ text: String, count: Int) -> [Int]? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == count, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return parts.map { $0! }
    }

    public static func camelCase(_ key: String) -> String {
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard let first = parts.first else { return key }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .custom { path in Key(stringValue: snakeCase(path.last!.stringValue)) }
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in Key(stringValue: camelCase(path.last!.stringValue)) }
        return decoder
    }

    static func describe(_ value: Any) -> String {
        if let text = value as? String { return "\"\(text)\"" }
        return "\(value)"
    }
}
