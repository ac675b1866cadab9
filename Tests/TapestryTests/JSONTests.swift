import Foundation
import Testing
@testable import Tapestry

/// The JSON reader behind safetensors headers, COCO files, settings and checkpoints,
/// against Foundation's `JSONSerialization` as an independent reader of valid input, and
/// against RFC 8259 on invalid input.
@Suite struct JSONReading {
    /// Foundation's reading of `text` and ours agree: same structure, strings, numbers.
    func agree(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let foundation: Any
        do { foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) } catch {
            Issue.record("Foundation refused \(text): \(error)", sourceLocation: sourceLocation)
            return
        }
        do {
            let ours = try JSONValue.parse(text)
            #expect(same(ours, foundation), "\(text)", sourceLocation: sourceLocation)
            // And what we write reads back the same in Foundation.
            let rewritten = try JSONSerialization.jsonObject(with: Data(ours.serialized.utf8), options: [.fragmentsAllowed])
            #expect(same(ours, rewritten), "rewritten \(ours.serialized)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("refused valid JSON \(text): \(error)", sourceLocation: sourceLocation)
        }
    }

    func same(_ ours: JSONValue, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let b): return (theirs as? Bool) == b
        case .number(let text): return (theirs as? NSNumber).map { Double(text)! == $0.doubleValue } ?? false
        case .string(let s): return (theirs as? String) == s
        case .array(let items):
            guard let array = theirs as? [Any], array.count == items.count else { return false }
            return zip(items, array).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let dictionary = theirs as? [String: Any], dictionary.count == members.count else { return false }
            return members.allSatisfy { member in dictionary[member.key].map { same(member.value, $0) } ?? false }
        }
    }

    @Test func numberGrammar() throws {
        for text in ["0", "-0", "7", "-12", "3.25", "-0.5", "1e3", "1E+3", "2.5e-3", "-1.0E-10", "123456789012", "1e308", "5e-324"] { agree(text) }
        // Integers keep their literal text: beyond 2⁵³ they are still exact.
        #expect(try JSONValue.parse("9007199254740993") == .number("9007199254740993"))
        #expect(try JSONValue.parse("-9223372036854775808").intValue == Int.min)
        for text in ["01", "-01", "1.", ".5", "1e", "1e+", "-", "+1", "0x10", "1.5.2", "NaN", "Infinity", "-Infinity", "1_000"] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(text) }
        }
    }

    @Test func escapesAndSurrogatePairs() throws {
        agree(#""quote \" backslash \\ slash \/ \b\f\n\r\t""#)
        agree(#""\u0041\u00e9\u4e2d\uD83D\uDE00""#)
        #expect(try JSONValue.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONValue.parse("\"é中😀\"") == .string("é中😀"))
        for text in [#""\uD83D""#, #""\uD83D\u0041""#, #""\uDE00""#, #""\u12""#, #""\u+123""#, #""\u-123""#, #""\x41""#, #""\"#,
                     "\"tab\there\"", "\"unterminated"] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(text) }
        }
        // Invalid UTF-8 inside a string.
        #expect(throws: JSONError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        // What we write for control characters reads back.
        agree(JSONValue.string("a\u{01}b\u{1F}c").serialized)
    }

    @Test func structureDepthAndDuplicates() throws {
        agree(#"{"a": [1, {"b": null}, true, false, "x"], "c": {}, "d": []}"#)
        agree(" \t\r\n[ 1 , 2 ]\n")
        let deep = 127
        agree(String(repeating: "[", count: deep) + String(repeating: "]", count: deep))
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: "[", count: 129) + String(repeating: "]", count: 129)) }
        // A nesting a hostile file could use to exhaust the stack is refused, not a crash.
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: JSONError(message: "duplicate key \"a\"", offset: 9)) { try JSONValue.parse(#"{"a": 1, "a": 2}"#) }
        for text in ["", " ", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1: 2}", "1 2", "[", "{", "tru", "nul", "[1]x"] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(text) }
        }
    }

    /// 300 random documents (nested values, escaped and non-ASCII strings, numbers of every
    /// form), written by hand-rolled code and read by both readers.
    @Test func randomDocumentsAgreeWithFoundation() {
        var rng = RandomGenerator(seed: 11)
        func pick(_ n: Int) -> Int { rng.nextInt(below: n) }
        func string() -> String {
            let pieces = ["a", "Z", " ", "\\\"", "\\\\", "\\n", "\\t", "\\u00e9", "é", "中", "😀", "\\uD83D\\uDE00", "\\/", "\\u0000"]
            return "\"" + (0..<pick(6)).map { _ in pieces[pick(pieces.count)] }.joined() + "\""
        }
        func number() -> String {
            let forms = ["\(pick(1000))", "-\(pick(1000))", "\(pick(100)).\(pick(1000))", "\(pick(9) + 1)e\(pick(20))", "-\(pick(9) + 1).5E-\(pick(20))", "0"]
            return forms[pick(forms.count)]
        }
        func value(_ depth: Int) -> String {
            switch pick(depth > 3 ? 4 : 7) {
            case 0: return number()
            case 1: return string()
            case 2: return ["true", "false", "null"][pick(3)]
            case 3: return number()
            case 4, 5: return "[" + (0..<pick(4)).map { _ in value(depth + 1) }.joined(separator: ", ") + "]"
            default:
                let keys = Set((0..<pick(4)).map { _ in "k\(pick(50))" })
                return "{" + keys.map { "\"\($0)\": " + value(depth + 1) }.joined(separator: ",") + "}"
            }
        }
        for _ in 0..<300 { agree(value(0)) }
    }
}
