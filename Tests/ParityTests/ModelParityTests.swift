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

    /// In Float32 every tensor must meet FORMAT.md's tolerances except the gradients of the
    /// first layer2 block. There, in the Float64 reference, some pre-ReLU activations lie
    /// 2.6e-6 and 6.2e-6 from zero (values are typically ~1), inside Float32 rounding noise:
    /// whether the ReLU passes their gradient depends on the rounding order of the matrix
    /// products, which moves these gradients' sums by up to 1.7% (seen with the portable
    /// Swift kernel; OpenBLAS happens to round like the reference). They are held to 2e-2.
    @Test func reproducesTheReferenceInFloat32() throws {
        let report = try report(.float32)
        let illConditioned = "backbone.0.body.layer2.0."
        let strict = report.lines.filter { !$0.name.contains(illConditioned) }
        let failures = strict.filter { !$0.passed }.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(failures.isEmpty, "\(failures)")
        let loose = report.lines.filter { $0.name.contains(illConditioned) }
        #expect(!loose.isEmpty && loose.allSatisfy { $0.note == nil && $0.error < 2e-2 }, "\(loose.map { "\($0.name): \($0.error)" })")
        #expect(strict.count + loose.count == report.lines.count && strict.count > 400)
    }
}

/// Deformable DETR (single-stage, no refinement, 4 levels) against the original code: every
/// output, loss, matching (final and auxiliary), gradient and checksum, in both precisions.
@Suite struct DeformableDETRParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheReference(_ dtype: DType) throws {
        let report = try ParityCheck.run(try Fixture(path: fixturePath("deformable-detr-r50-4lvl-tiny.safetensors")), dtype: dtype,
                                         runners: ModelFixtures.runners)
        let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(report.passed && failures.isEmpty, "\(failures)")
        let names = Set(report.lines.map(\.name))
        for expected in ["output.aux.0.pred_logits", "match.aux.0.1.pred", "log.class_error", "loss.loss_ce_0",
                         "grad.class_embed.0.weight", "param.checksum.class_embed.1.weight",
                         "grad.transformer.encoder.layers.0.self_attn.sampling_offsets.weight"] {
            #expect(names.contains(expected), "\(expected) was compared")
        }
        #expect(report.lines.count > 580)
    }
}
