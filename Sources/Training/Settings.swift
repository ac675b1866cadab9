import Foundation
import Tapestry

/// A run's settings, assembled in layers: each section's defaults, then a JSON file, then
/// `key=value` overrides from the command line.
///
/// Sections are named objects (`model`, `trainer`, `data`). A key is written `section.key`,
/// or bare when exactly one section has it (`--set hidden_dim=128`). Every key must exist in
/// the defaults and every value must have the default's JSON kind, so a typo is an error
/// that lists what exists rather than a setting silently ignored.
public struct Settings: Sendable, Equatable {
    /// The settings as one JSON object of sections.
    public private(set) var root: [(section: String, members: [(key: String, value: JSONValue)])]
    /// "section.key" of every value set by a file or an override.
    public private(set) var explicitKeys: Set<String> = []

    public static func == (a: Settings, b: Settings) -> Bool { a.json == b.json }

    public init(defaults: [(section: String, value: any Encodable)]) throws(SettingsError) {
        root = []
        for (section, value) in defaults {
            guard let data = try? SettingsCoding.encoder.encode(value), case .object(let members)? = try? JSONValue.parse([UInt8](data)) else {
                throw SettingsError(reason: "the defaults of section \(section) are not a JSON object")
            }
            root.append((section, members))
        }
    }

    /// Settings read back from `json` (as `json` wrote them), checked against `defaults`.
    public init(json text: String, defaults: [(section: String, value: any Encodable)]) throws(SettingsError) {
        self = try Settings(defaults: defaults)
        try merge(text, source: "stored settings")
    }

    /// All sections as one compact JSON object.
    public var json: String {
        JSONValue.object(root.map { ($0.section, JSONValue.object($0.members)) }).serialized
    }

    /// Applies a JSON file: an object of sections, each an object of keys to change.
    public mutating func merge(file path: String) throws(SettingsError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingsError(reason: "\(path): cannot read the file") }
        try merge(String(decoding: data, as: UTF8.self), source: path)
    }

    mutating func merge(_ text: String, source: String) throws(SettingsError) {
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(text) } catch { throw SettingsError(reason: "\(source): invalid JSON: \(error)") }
        guard case .object(let sections) = parsed else { throw SettingsError(reason: "\(source): must be a JSON object of sections (\(sectionNames))") }
        for (section, value) in sections {
            guard root.contains(where: { $0.section == section }) else { throw SettingsError(reason: "\(source): unknown section \(section) (\(sectionNames))") }
            guard case .object(let members) = value else { throw SettingsError(reason: "\(source): section \(section) must be an object") }
            for (key, value) in members { try assign(section: section, key: key, value, source: source) }
        }
    }

    /// Applies one `key=value` (or `section.key=value`); the value is read as JSON, and as a
    /// string when it is not valid JSON.
    public mutating func set(_ assignment: String) throws(SettingsError) {
        guard let equals = assignment.firstIndex(of: "=") else { throw SettingsError(reason: "--set \(assignment): expected key=value") }
        let path = String(assignment[..<equals]), text = String(assignment[assignment.index(after: equals)...])
        let value = (try? JSONValue.parse(text)) ?? .string(text)
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 2 {
            try assign(section: parts[0], key: parts[1], value, source: "--set")
            return
        }
        let owners = root.filter { $0.members.contains { $0.key == path } }.map(\.section)
        guard owners.count == 1 else {
            throw SettingsError(reason: owners.isEmpty ? "--set: unknown key \(path) (\(knownKeys))"
                                                       : "--set: \(path) is in several sections; write \(owners.map { "\($0).\(path)" }.joined(separator: " or "))")
        }
        try assign(section: owners[0], key: path, value, source: "--set")
    }

    mutating func assign(section: String, key: String, _ value: JSONValue, source: String) throws(SettingsError) {
        guard let s = root.firstIndex(where: { $0.section == section }) else {
            throw SettingsError(reason: "\(source): unknown section \(section) (\(sectionNames))")
        }
        guard let k = root[s].members.firstIndex(where: { $0.key == key }) else {
            throw SettingsError(reason: "\(source): unknown key \(section).\(key) (\(section) has \(root[s].members.map(\.key).joined(separator: ", ")))")
        }
        let old = root[s].members[k].value
        guard Self.kind(old) == Self.kind(value) else {
            throw SettingsError(reason: "\(source): \(section).\(key) must be \(Self.kind(old)), got \(value.serialized)")
        }
        if let number = value.doubleValue, !number.isFinite {
            throw SettingsError(reason: "\(source): \(section).\(key) must be a finite number, got \(value.serialized)")
        }
        root[s].members[k].value = value
        explicitKeys.insert("\(section).\(key)")
    }

    /// Decodes one section, and checks every field against its range: the error names the
    /// key, the value and what it must be.
    public func decode<T: SettingsGroup>(_ type: T.Type, section: String) throws(SettingsError) -> T {
        guard let members = root.first(where: { $0.section == section })?.members else { throw SettingsError(reason: "no section \(section)") }
        let value: T
        do {
            value = try SettingsCoding.decoder.decode(T.self, from: Data(JSONValue.object(members).serialized.utf8))
        } catch let DecodingError.dataCorrupted(context) {
            throw SettingsError(reason: "\(section).\(context.codingPath.map { SettingsCoding.snakeCase($0.stringValue) }.joined(separator: ".")) \(context.debugDescription)")
        } catch {
            throw SettingsError(reason: "section \(section): \(error)")
        }
        let problems = value.problems()
        guard problems.isEmpty else { throw SettingsError(reason: problems.map { "\(section).\($0)" }.joined(separator: "; ")) }
        return value
    }

    /// The value at "section.key".
    public func value(_ path: String) -> JSONValue? {
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        return root.first { $0.section == parts[0] }?.members.first { $0.key == parts[1] }?.value
    }

    /// "section.key: a → b" for every value that differs from `other`'s.
    public func differences(from other: Settings) -> [String] {
        root.flatMap { section in
            section.members.compactMap { member -> String? in
                let path = "\(section.section).\(member.key)"
                let theirs = other.value(path)
                return theirs == member.value ? nil : "\(path): \(theirs?.serialized ?? "absent") → \(member.value.serialized)"
            }
        }
    }

    var sectionNames: String { "sections: " + root.map(\.section).joined(separator: ", ") }
    var knownKeys: String { "known: " + root.flatMap { s in s.members.map { "\(s.section).\($0.key)" } }.joined(separator: ", ") }

    static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "true or false"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Settings that cannot be assembled, with the key and the reason.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
