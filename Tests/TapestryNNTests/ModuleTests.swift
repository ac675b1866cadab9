import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

final class Block: Module {
    let selfAttn = Linear(4, 4)
    let layers = [Linear(4, 3), Linear(3, 2, bias: false)]
    let norm: LayerNorm? = LayerNorm(2)
    let absent: Linear? = nil
    let runningTotal = Buffer(Tensor.zeros([1]))
    let inProjWeight = Parameter(Tensor.ones([2, 2]))
}

final class Renamed: Module {
    let body = Linear(2, 2)
    override var keyOverrides: [String: String] { ["body": "0"] }
}

@Suite struct ModuleNaming {
    @Test func keysFollowPyTorchStateDicts() {
        let keys = Block().stateDict().map(\.0)
        // PyTorch's order: a module's own parameters, then its buffers, then its children.
        #expect(keys == ["in_proj_weight", "running_total", "self_attn.weight", "self_attn.bias", "layers.0.weight",
                         "layers.0.bias", "layers.1.weight", "norm.weight", "norm.bias"])
        #expect(Renamed().stateDict().map(\.0) == ["0.weight", "0.bias"])
        #expect(SettingsCoding.snakeCase("inProjWeight") == "in_proj_weight" && SettingsCoding.snakeCase("layer1") == "layer1" && SettingsCoding.snakeCase("relH") == "rel_h")
        #expect(Sequential(Linear(1, 1), ReLU(), Linear(1, 1)).stateDict().map(\.0) == ["0.weight", "0.bias", "2.weight", "2.bias"])
    }

    @Test func countsFreezingAndModes() {
        let block = Block()
        #expect(block.parameterCount() == 4 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2 + 2 + 4)
        let frozen = block.freeze { $0.hasPrefix("layers.") }
        #expect(frozen == ["layers.0.weight", "layers.0.bias", "layers.1.weight"])
        #expect(block.parameterCount(trainableOnly: true) == block.parameterCount() - (12 + 3 + 6))
        #expect(!block.layers[0].weight.value.requiresGrad && block.selfAttn.weight.value.requiresGrad)
        block.eval()
        #expect(block.namedModules().allSatisfy { !$0.1.training })
        block.train()
        #expect(block.layers[1].training)
    }

    @Test func loadReportsInsteadOfCrashing() {
        let block = Block()
        var state = Dictionary(uniqueKeysWithValues: block.stateDict())
        state["self_attn.weight"] = Tensor.zeros([3, 3])        // wrong shape
        state["extra.weight"] = Tensor.zeros([1])               // unexpected
        state.removeValue(forKey: "norm.bias")                  // missing
        let before = block.selfAttn.bias!.value.doubles()
        state["self_attn.bias"] = Tensor.full([4], value: 7)
        let strict = block.load(state)
        #expect(!strict.isClean)
        #expect(strict.missing == ["norm.bias"] && strict.unexpected == ["extra.weight"])
        #expect(strict.shapeMismatches == [.init(key: "self_attn.weight", expected: [4, 4], found: [3, 3])])
        #expect(block.selfAttn.bias!.value.doubles() == before, "a strict load with problems changes nothing")
        let lenient = block.load(state, strict: false)
        #expect(lenient.loaded.contains("self_attn.bias"))
        #expect(block.selfAttn.bias!.value.doubles() == [7, 7, 7, 7])
        #expect(block.selfAttn.bias!.value.requiresGrad, "loaded parameters stay trainable")
        #expect(strict.description.contains("missing: norm.bias") && strict.description.contains("shape mismatch: self_attn.weight"))
    }

    @Test func saveAndLoadSafetensorsByName() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = Block(), target = Block()
        try source.save(to: directory + "/block.safetensors", metadata: ["note": "test"])
        try target.load(from: directory + "/block.safetensors")
        #expect(source.stateDict().count == target.stateDict().count && !source.stateDict().isEmpty)
        for ((k1, a), (k2, b)) in zip(source.stateDict(), target.stateDict()) {
            #expect(k1 == k2 && a.doubles() == b.doubles(), "\(k1)")
        }
        try Renamed().save(to: directory + "/other.safetensors")
        #expect(throws: ModuleWeightsError.self) { try target.load(from: directory + "/other.safetensors") }
        #expect(throws: SafetensorsError.self) { try target.load(from: directory + "/missing.safetensors") }
    }
}

@Suite struct ResNetBackbone {
    @Test func resnet50KeysMatchDETRsBackboneExactly() throws {
        let lines = try String(contentsOfFile: fixturePath("detr-r50-names.txt"), encoding: .utf8).split(separator: "\n")
        let prefix = "backbone.0.body."
        let expected = lines.filter { $0.hasPrefix(prefix) }.map { line -> (String, [Int]) in
            let parts = line.split(separator: " ")
            let shape = parts[1].dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
            return (String(parts[0].dropFirst(prefix.count)), shape)
        }
        let model = ResNet(.resnet50, norm: .frozenBatchNorm)
        let mine = model.stateDict().map { ($0.0, $0.1.shape) }
        #expect(mine.map(\.0) == expected.map(\.0))
        #expect(mine.map(\.1) == expected.map(\.1))
        #expect(expected.count == 265)
    }

    @Test func resnet50LoadsATorchvisionStyleStateDictFromSafetensors() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A torchvision checkpoint carries num_batches_tracked and the classifier; a
        // backbone with frozen batch norm takes everything else by name.
        let donor = ResNet(.resnet50, norm: .batchNorm, classes: 10)
        var tensors = donor.stateDict().filter { !$0.0.hasPrefix("fc.") }
        tensors = tensors.map { ($0.0, $0.0.hasSuffix("running_var") ? Tensor.full($0.1.shape, value: 2) : $0.1) }
        try SafetensorsFile(tensors: tensors.map { (name: $0.0, tensor: $0.1) }).write(to: directory + "/r50.safetensors")
        let backbone = ResNet(.resnet50, norm: .frozenBatchNorm)
        let report = try backbone.load(from: directory + "/r50.safetensors")
        #expect(report.isClean, "\(report)")
        #expect(report.loaded.count == 265)
        #expect((backbone.layer3.layers[2] as! Bottleneck).conv2.weight.value.doubles()
                == (donor.layer3.layers[2] as! Bottleneck).conv2.weight.value.doubles())
        #expect(((backbone.layer4.layers[0] as! Bottleneck).bn3 as! FrozenBatchNorm2d).runningVar.value.doubles().allSatisfy { $0 == 2 })
    }

    @Test func stagesAndDilation() {
        let image = Tensor.zeros([1, 3, 64, 48])
        let r18 = ResNet(.resnet18)
        #expect(r18.features(image).map(\.shape) == [[1, 64, 16, 12], [1, 128, 8, 6], [1, 256, 4, 3], [1, 512, 2, 2]])
        #expect(r18.stateDict().map(\.0).contains("layer2.0.downsample.0.weight"))
        #expect(!r18.stateDict().map(\.0).contains("layer1.0.downsample.0.weight"))
        let dc5 = ResNet(.resnet50, norm: .frozenBatchNorm, dilateLastStage: true)
        #expect(dc5.features(image).last!.shape == [1, 2048, 4, 3])
        #expect((dc5.layer4.layers[1] as! Bottleneck).conv2.dilation == (2, 2))
        #expect((dc5.layer4.layers[0] as! Bottleneck).conv2.dilation == (1, 1))
        #expect(ResNet(.resnet101).stateDict().count > ResNet(.resnet50).stateDict().count)
        let classifier = ResNet(.resnet34, classes: 7)
        #expect(classifier(image).shape == [1, 7])
    }

    /// torchvision's ResNet initialization: convolutions N(0, 2/fanOut), the classifier left
    /// at Linear's default U(±1/√fanIn). Standard deviations by hand: the stem 64×3×7×7 has
    /// fanOut 3136, so √(2/3136) = 0.02525; layer1's 64×64×3×3 has fanOut 576, so 0.05893
    /// (PyTorch's default convolution init would give 1/√(3·576) = 0.02406). With 9408 and
    /// 36864 draws the sample deviation is within 3% and 2% of these.
    @Test func convolutionsStartAsTorchvisionsDo() {
        let r18 = DefaultRandom.withGenerator(RandomGenerator(seed: 7)) { ResNet(.resnet18, classes: 10) }.0
        func deviation(_ t: Tensor) -> Double {
            let x = t.doubles(), mean = x.reduce(0, +) / Double(x.count)
            return (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)).squareRoot()
        }
        let stem = deviation(r18.conv1.weight.value), block = deviation((r18.layer1.layers[0] as! BasicBlock).conv1.weight.value)
        #expect(Swift.abs(stem / 0.02525 - 1) < 0.03, "stem deviation \(stem)")
        #expect(Swift.abs(block / 0.05893 - 1) < 0.02, "layer1 deviation \(block)")
        let downsample = (r18.layer2.layers[0] as! BasicBlock).downsample!.layers[0] as! Conv2d     // 128×64×1×1: √(2/128)
        #expect(Swift.abs(deviation(downsample.weight.value) / 0.125 - 1) < 0.05)
        #expect(r18.fc!.weight.value.doubles().allSatisfy { Swift.abs($0) <= 1 / 512.0.squareRoot() })
    }
}
