import Foundation
import Tapestry
import TapestryNN
import Testing
@testable import TorchCheckpoint

/// The `.pth` files PyTorch wrote (Fixtures/README.md says what each holds), against the
/// tensors PyTorch itself exported to `expected.safetensors`.
@Suite struct PyTorchCheckpointFiles {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    static let expected: [String: Tensor] = {
        let file = try! SafetensorsFile.read(fixture("expected.safetensors"))
        return Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.tensor) })
    }()

    static let stateDictKeys = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                                "head.weight", "head.bias"]

    /// Every tensor read equals PyTorch's own export: name, dtype, shape and every value.
    func expectEqualToExpected(_ tensors: [(name: String, tensor: Tensor)], count: Int) {
        #expect(tensors.count == count, "read \(tensors.count) tensors: \(tensors.map(\.name))")
        for (name, tensor) in tensors {
            guard let reference = Self.expected[name] else {
                Issue.record("\(name) is not among the expected tensors")
                continue
            }
            #expect(tensor.dtype == reference.dtype && tensor.shape == reference.shape, "\(name): \(tensor.dtype) \(tensor.shape), expected \(reference.dtype) \(reference.shape)")
            #expect(tensor.cast(to: .float64).doubles() == reference.cast(to: .float64).doubles(), "\(name) values differ")
        }
    }

    @Test(arguments: ["zip", "legacy"])
    func stateDictInBothFormats(format: String) throws {
        let tensors = try PyTorchCheckpoint.read(Self.fixture("state-dict-\(format).pth")).stateDict()
        #expect(tensors.map(\.name) == Self.stateDictKeys)
        expectEqualToExpected(tensors, count: 8)
    }

    /// Float16, BFloat16, Float64 and the integer types; a transposed view, two views of one
    /// storage, a 0-d scalar and an empty tensor, each materialised from its storage.
    @Test(arguments: ["zip", "legacy"])
    func dtypesAndViews(format: String) throws {
        let tensors = try PyTorchCheckpoint.read(Self.fixture("dtypes-and-views-\(format).pth")).stateDict()
        expectEqualToExpected(tensors, count: 20)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
        #expect(byName["layout.transposed"]?.shape == [6, 4] && byName["layout.scalar"]?.shape == [] && byName["layout.empty"]?.shape == [0, 3])
    }

    /// DETR-style training checkpoints: the state dict under "model", the epoch, and the
    /// argparse Namespace as a record of its fields (nothing constructed or called).
    @Test(arguments: ["zip", "legacy"])
    func trainingCheckpoints(format: String) throws {
        let checkpoint = try PyTorchCheckpoint.read(Self.fixture("training-checkpoint-\(format).pth"))
        expectEqualToExpected(try checkpoint.stateDict(), count: 8)
        let root = try #require(checkpoint.root.dictionary)
        guard case .int(12) = root["epoch"] else { Issue.record("epoch is \(String(describing: root["epoch"]))"); return }
        guard case .object(let args) = root["args"] else { Issue.record("args is not a record"); return }
        #expect(args.className == "argparse.Namespace")
        if case .string(let backbone) = args.fields["backbone"], case .float(let lr) = args.fields["lr"] {
            #expect(backbone == "resnet50" && lr == 1e-4)
        } else {
            Issue.record("args fields: \(args.fields.keys.sorted())")
        }
        if format == "legacy" { #expect(root["optimizer"]?.dictionary?["param_groups"] != nil) }
    }

    /// Pickles that would run code are refused by the name of what they call, and nothing runs.
    @Test(arguments: [("malicious-os-system-zip.pth", "system"), ("malicious-eval-zip.pth", "builtins.eval"),
                      ("malicious-os-system-legacy.pth", "system")])
    func picklesThatRunCodeAreRefused(file: String, global: String) {
        let marker = "/tmp/pth-reader-was-fooled"
        try? FileManager.default.removeItem(atPath: marker)
        do {
            _ = try PyTorchCheckpoint.read(Self.fixture(file))
            Issue.record("\(file) was read")
        } catch let error as PyTorchCheckpointError {
            #expect(error.reason.contains(global) && error.reason.contains("refused"), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    /// Damaged files are clear errors that say what is wrong.
    @Test(arguments: [("truncated-zip.pth", "damaged zip archive"), ("missing-storage-zip.pth", "no entry"),
                      ("short-storage-zip.pth", "holds 4 bytes"), ("not-a-checkpoint.pth", "damaged zip archive"),
                      ("expected.safetensors", "not a PyTorch checkpoint")])
    func damagedFilesAreClearErrors(file: String, reason: String) {
        do {
            _ = try PyTorchCheckpoint.read(Self.fixture(file)).stateDict()
            Issue.record("\(file) was read")
        } catch let error as PyTorchCheckpointError {
            #expect(error.reason.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Module.load(from:) takes a .pth file: the strict report names unexpected and missing keys.
    @Test func modulesLoadPthFiles() throws {
        final class Tiny: Module {
            let conv = Conv2d(3, 4, kernelSize: (3, 3), bias: false)
            let bn = BatchNorm2d(4)
            let head = Linear(4, 2)
        }
        let tiny = Tiny()
        let report = try tiny.load(from: Self.fixture("state-dict-legacy.pth"))
        #expect(report.isClean)
        #expect(tiny.head.weight.value.doubles() == Self.expected["head.weight"]!.cast(to: .float64).doubles())
        #expect(tiny.bn.runningVar.value.doubles() == Self.expected["bn.running_var"]!.cast(to: .float64).doubles())

        final class Other: Module {
            let conv = Conv2d(3, 4, kernelSize: (3, 3), bias: false)
            let classifier = Linear(4, 2)
        }
        #expect(throws: ModuleWeightsError.self) { try Other().load(from: Self.fixture("state-dict-zip.pth")) }
        let loose = try Other().load(from: Self.fixture("state-dict-zip.pth"), strict: false)
        #expect(loose.unexpected.contains("head.weight") && loose.missing.contains("classifier.weight"))
    }

    /// Pickle opcodes by hand: a negative LONG1, a memoised list filled after use, and a
    /// global outside the list refused before anything is called.
    @Test func unpicklerByHand() throws {
        // PROTO 2, EMPTY_LIST, MEMOIZE, LONG1 of 2 bytes ff 7f (little-endian 0x7fff = 32767), APPEND,
        // LONG1 of 1 byte ff (two's complement: −1), APPEND, STOP.
        var unpickler = Unpickler(bytes: [0x80, 2, 0x5d, 0x94, 0x8a, 2, 0xff, 0x7f, 0x61, 0x8a, 1, 0xff, 0x61, 0x2e]) { _ in .none }
        guard case .list(let list) = try unpickler.load() else { Issue.record("not a list"); return }
        guard list.items.count == 2, case .int(let a) = list.items[0], case .int(let b) = list.items[1] else { Issue.record("items"); return }
        #expect(a == 32767 && b == -1)
        let forbidden: [UInt8] = [0x80, 2] + Array("cos\nsystem\n".utf8) + [0x2e]   // PROTO 2, GLOBAL os.system, STOP
        var refused = Unpickler(bytes: forbidden) { _ in .none }
        #expect(throws: PickleError.forbiddenGlobal("os.system")) { try refused.load() }
    }

    /// LONG_BINPUT and LONG_BINGET carry a memo index, which may be larger than the bytes
    /// left in the pickle (a large state dict memoises thousands of objects in its last
    /// few kilobytes): index 5000 in a pickle of 17 bytes.
    @Test func longMemoIndicesAreKeysNotLengths() throws {
        // PROTO 2, BININT1 7, LONG_BINPUT 5000, POP, LONG_BINGET 5000, STOP.
        let index: [UInt8] = [0x88, 0x13, 0, 0]                                                // 5000, little-endian
        var unpickler = Unpickler(bytes: [0x80, 2, 0x4b, 7, 0x72] + index + [0x30, 0x6a] + index + [0x2e]) { _ in .none }
        guard case .int(let value) = try unpickler.load() else { Issue.record("not an int"); return }
        #expect(value == 7)
    }

    /// A container put inside itself — directly, or through a tuple or another container —
    /// is refused: Swift would never free the cycle (the fuzzer found it as a leak). A list
    /// holding an equal but distinct list is fine.
    @Test func aContainerInsideItselfIsRefused() throws {
        // PROTO 2, EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP: l.append(l).
        var direct = Unpickler(bytes: [0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e]) { _ in .none }
        #expect { try direct.load() } throws: { "\($0)".contains("a container put inside itself") }
        // EMPTY_DICT, BINPUT 0, BININT1 1, BINGET 0, TUPLE1, SETITEM: d[1] = (d,).
        var throughTuple = Unpickler(bytes: [0x80, 2, 0x7d, 0x71, 0, 0x4b, 1, 0x68, 0, 0x85, 0x73, 0x2e]) { _ in .none }
        #expect { try throughTuple.load() } throws: { "\($0)".contains("a container put inside itself") }
        // EMPTY_LIST, EMPTY_LIST, APPEND: [[]].
        var nested = Unpickler(bytes: [0x80, 2, 0x5d, 0x5d, 0x61, 0x2e]) { _ in .none }
        guard case .list(let outer) = try nested.load(), case .list(let inner)? = outer.items.first else { Issue.record("not [[]]"); return }
        #expect(outer.items.count == 1 && inner.items.isEmpty)
    }
}
