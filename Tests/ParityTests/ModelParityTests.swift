import Foundation
import Testing
@testable import Detection
@testable import Tapestry
@testable import TapestryNN
@testable import Zoo
@testable import Parity

@Suite struct DETRParity {
    func report(_ dtype: DType) throws -> ParityCheck.Report {
        try ParityCheck.run(try Fixture(path: fixturePath("detr-r50-tiny.safetensors")), dtype: dtype, runners: ModelFixtures.runners)
    }

    @Test func reproducesTheReferenceInFloat64() throws {
        let report = try report(.float64)
        let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(report.passed && failures.isEmpty, "\(failures)")
        #expect(report.lines.count > 500, "outputs, losses, matches, gradients and checksums were all compared")
    }

    /// In Float32 every tensor meets FORMAT.md's tolerances, except on the reference backend
    /// (`ParityWaiver.all`): there the gradients of the first layer2 block are ill-conditioned
    /// (see its reason) and held to 2e-3; its parameter checksums and every other line stay
    /// strict, and the waiver must still be needed (some of its lines exceed 1e-3).
    @Test func reproducesTheReferenceInFloat32() throws {
        let report = try report(.float32)
        let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(report.passed && failures.isEmpty, "\(failures)")
        let waived = report.lines.filter { $0.waived != nil }
        #expect(report.lines.count > 500)
        if backend.name == "reference" {
            #expect(!waived.isEmpty && waived.allSatisfy { $0.name.hasPrefix("grad") && $0.name.contains("backbone.0.body.layer2.0.") })
            #expect(waived.contains { $0.error > 1e-3 }, "the waiver is no longer needed: remove it")
        } else {
            #expect(waived.isEmpty)
        }
    }
}

/// Runs a model fixture, expects every line within tolerance and the named lines among
/// those compared, and returns the report.
@discardableResult
func expectModelFixture(_ file: String, _ dtype: DType, comparing expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ParityCheck.Report {
    let report = try ParityCheck.run(try Fixture(path: fixturePath(file)), dtype: dtype, runners: ModelFixtures.runners)
    let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
    #expect(failures.isEmpty && report.passed, "\(failures)", sourceLocation: sourceLocation)
    let names = Set(report.lines.map(\.name))
    for name in expected { #expect(names.contains(name), "\(name) was compared", sourceLocation: sourceLocation) }
    return report
}

/// Deformable DETR (single-stage, no refinement, 4 levels) against the original code: every
/// output, loss, matching (final and auxiliary), gradient and checksum, in both precisions.
@Suite struct DeformableDETRParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheReference(_ dtype: DType) throws {
        let report = try expectModelFixture("deformable-detr-r50-4lvl-tiny.safetensors", dtype, comparing: [
            "output.aux.0.pred_logits", "match.aux.0.1.pred", "log.class_error", "loss.loss_ce_0", "grad.class_embed.0.weight",
            "param.checksum.class_embed.1.weight", "grad.transformer.encoder.layers.0.self_attn.sampling_offsets.weight"])
        #expect(report.lines.count > 580)
    }
}

/// SMCA-DETR (single scale, type3 scales) against the original code: outputs, losses,
/// matchings, gradients and checksums in both precisions. In Float32 on the reference
/// backend the backbone's gradients are held to the waiver's 4e-3 (see its reason), which
/// must still be needed; everywhere else FORMAT.md's tolerances hold.
@Suite struct SMCAParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheReference(_ dtype: DType) throws {
        let report = try expectModelFixture("smca-r50-ss-type3-tiny.safetensors", dtype, comparing: [
            "output.aux.0.pred_boxes", "match.aux.0.1.pred", "log.class_error", "loss.loss_ce_0",
            "grad.transformer.decoder.layers.0.point1.layers.2.weight", "grad.transformer.decoder.layers.1.point3.weight"])
        let waived = report.lines.filter { $0.waived != nil }
        if dtype == .float32 && backend.name == "reference" {
            #expect(waived.allSatisfy { $0.name.contains("backbone.0.body.") })
            #expect(waived.contains { $0.error > 1e-3 }, "the waiver is no longer needed: remove it")
        } else {
            #expect(waived.isEmpty)
        }
    }
}

/// Stacked-DETR (3-3-3-3 layers, 8-8-1-8 heads) against the original code: the five
/// auxiliary outputs of both levels, losses, matchings, gradients and checksums.
@Suite struct StackedDETRParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheReference(_ dtype: DType) throws {
        let report = try expectModelFixture("stacked-detr-r50-3333.safetensors", dtype, comparing: [
            "output.aux.4.pred_logits", "loss.loss_giou_4", "grad.query_embed1.weight", "grad.query_embed2.weight",
            "grad.mytransformer2.encoder.layers.2.self_attn.in_proj_weight", "grad.mytransformer1.decoder.norm.weight",
            "param.checksum.input_proj2.weight"])
        #expect(report.lines.allSatisfy { $0.waived == nil })
    }
}

/// SASA-ResNet against the reference semantics (spec/sasa-resnet.md): logits, every stage's
/// statistics, layer4's output, BatchNorm's running statistics after the training-mode pass,
/// the loss and every gradient — with the conv stem (k 7, 4 heads) and the attention stem
/// (k 5, 2 heads), in both precisions.
@Suite struct SASAResNetParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheConvStemReference(_ dtype: DType) throws {
        let report = try expectModelFixture("sasa-resnet-k7h4-convstem.safetensors", dtype, comparing: [
            "output.logits", "output.stat.layer3", "output.feature.layer4", "output.buffer.layer2.0.conv2.1.running_var",
            "output.buffer.init.1.num_batches_tracked", "loss.cross_entropy", "grad.layer3.1.conv2.0.rel_h", "grad.layer1.0.conv2.0.query_conv.weight",
            "param.checksum.layer4.0.shortcut.1.running_mean"])
        #expect(report.lines.count == 274)
    }

    @Test(arguments: [DType.float64, .float32])
    func reproducesTheAttentionStemReference(_ dtype: DType) throws {
        let report = try expectModelFixture("sasa-resnet-k5h2-attnstem.safetensors", dtype, comparing: [
            "output.logits", "output.stat.init", "grad.init.0.emb_mix", "grad.init.0.value_conv.3.weight", "grad.layer4.0.conv2.0.rel_w",
            "output.buffer.layer4.0.conv3.1.running_mean"])
        #expect(report.lines.count == 248)
    }

    /// The state dict has upstream's names, shapes and order (the fixtures' `.params.txt`),
    /// so a converted upstream checkpoint loads by name.
    @Test(arguments: ["sasa-resnet-k7h4-convstem", "sasa-resnet-k5h2-attnstem"])
    func stateDictMatchesUpstream(_ name: String) throws {
        let fixture = try Fixture(path: fixturePath(name + ".safetensors"))
        let network = try Registry.entry(named: "sasa-resnet").buildClassifier(try ModelFixtures.settings(try Registry.entry(named: "sasa-resnet"), fixture))
        let listed = try String(contentsOfFile: fixturePath(name + ".params.txt"), encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map { line in line.split(separator: "\t").prefix(2).joined(separator: " ") }
        let ours = network.stateDict().map { "\($0.0) \($0.1.shape)" }
        #expect(ours == listed)
        #expect(listed.count > 100)
    }
}
