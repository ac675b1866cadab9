import Classification
import Detection
import Foundation
import Tapestry
import TorchCheckpoint
import Training
import Zoo

/// The file readers, each given arbitrary bytes: any outcome but a thrown error or a
/// value is a bug (a trap, a hang, a sanitizer report).
///
/// Built two ways. With `-DFUZZING -sanitize=fuzzer,address` (`make fuzz`) it is a libFuzzer
/// target; the reader comes from `TAPESTRY_FUZZ_TARGET`. Built plainly it replays files:
/// `ZooFuzz <reader> FILE...` runs each through the reader and reports how it ended, which
/// is how the inputs fuzzing found stay tested.
enum Readers {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "safetensors": { _ = try? SafetensorsFile.parse($0, file: "input") },
        "checkpoint": { bytes in
            guard let file = try? SafetensorsFile.parse(bytes, file: "input"), let checkpoint = try? Checkpoint(file: file, path: "input") else { return }
            _ = try? ZooRun.settings(model: checkpoint.modelName, stored: checkpoint.settings)
        },
        "coco": { _ = try? COCODataset.parse($0, file: "input") },
        "settings": { bytes in
            guard let text = String(validating: bytes, as: UTF8.self) else { return }
            for model in Registry.models.map(\.name) {
                guard let settings = try? ZooRun.settings(model: model, stored: text) else { continue }
                _ = try? Registry.entry(named: model).validate(settings)
            }
        },
        "image": { _ = try? ImageIO.decode($0, name: "input") },
        "pth": { bytes in
            guard let checkpoint = try? PyTorchCheckpoint.parse(bytes, path: "input") else { return }
            _ = try? checkpoint.stateDict()
        },
        "cifar": { bytes in
            guard let batch = try? CIFAR10.parse(bytes, file: "input") else { return }
            _ = (0..<batch.labels.count).map { CIFAR10.image(batch.pixels, record: $0) }
        },
    ]

    static func named(_ name: String) -> @Sendable ([UInt8]) -> Void {
        guard let reader = all[name] else {
            FileHandle.standardError.write(Data("unknown reader \"\(name)\" (known: \(all.keys.sorted().joined(separator: ", ")))\n".utf8))
            exit(2)
        }
        return reader
    }
}

#if FUZZING
let fuzzedReader = Readers.named(ProcessInfo.processInfo.environment["TAPESTRY_FUZZ_TARGET"] ?? "")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzedReader(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

/// SwiftPM names an executable's entry point after its module: hand it to libFuzzer.
@_cdecl("ZooFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc, arguments = argv
    return runFuzzerDriver(&count, &arguments) { fuzzOneInput($0, $1) }
}
#else
@main struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, arguments.count > 1 else {
            print("usage: ZooFuzz <\(Readers.all.keys.sorted().joined(separator: "|"))> FILE...")
            exit(2)
        }
        let reader = Readers.named(name)
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); exit(1) }
            reader([UInt8](data))
            print("\(path): handled")
        }
    }
}
#endif
