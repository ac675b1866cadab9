import Foundation
import Tapestry
import Testing
import Training
@testable import Zoo

/// A PyTorch-written checkpoint of a zoo model (Fixtures/tiny-detr-legacy.pth: PyTorch's
/// legacy format, as DETR's hub checkpoints are, `{"model": state dict, "epoch", "args"}`,
/// made by torch.save from the tensors of Fixtures/tiny-detr.safetensors, a zoo export of
/// a tiny DETR).
@Suite struct ConvertingPyTorchCheckpoints {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    static let tinySettings = ["model.backbone=resnet18", "model.backbone_width=8", "model.hidden_dim=16", "model.nheads=2",
                               "model.enc_layers=1", "model.dec_layers=1", "model.dim_feedforward=32", "model.num_queries=5",
                               "model.num_classes=4", "model.frozen_batch_norm=false"]

    @Test func everyTensorArrivesUnchanged() throws {
        let settings = try ZooRun.settings(model: "detr", shapes: false, assignments: Self.tinySettings)
        let converted = try ZooRun.convert(pyTorchCheckpoint: Self.fixture("tiny-detr-legacy.pth"), model: "detr", settings: settings)
        let original = try Checkpoint(file: try SafetensorsFile.read(Self.fixture("tiny-detr.safetensors")), path: "tiny-detr.safetensors")
        #expect(converted.model.count == 163 && converted.model.keys.sorted() == original.model.keys.sorted())
        for (name, tensor) in original.model {
            let mine = try #require(converted.model[name])
            #expect(mine.dtype == tensor.dtype && mine.shape == tensor.shape && mine.cast(to: .float64).doubles() == tensor.cast(to: .float64).doubles(),
                    "\(name) differs")
        }
        // The settings travel with it, so zoo eval and predict rebuild the same model.
        #expect(try ZooRun.settings(model: "detr", stored: converted.settings).value("model.hidden_dim")?.intValue == 16)
    }

    @Test func aCheckpointForOtherSettingsIsRefusedNamingTheKeys() throws {
        let wider = try ZooRun.settings(model: "detr", shapes: false, assignments: Self.tinySettings.map { $0 == "model.hidden_dim=16" ? "model.hidden_dim=32" : $0 })
        #expect {
            _ = try ZooRun.convert(pyTorchCheckpoint: Self.fixture("tiny-detr-legacy.pth"), model: "detr", settings: wider)
        } throws: { error in
            "\(error)".contains("does not fit detr") && "\(error)".contains("query_embed.weight")
        }
    }
}
