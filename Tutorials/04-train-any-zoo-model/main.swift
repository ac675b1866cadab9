// Tutorial 04: training any zoo model from Swift — settings, data, train, stop, resume,
// evaluate, predict, export — and a PyTorch checkpoint converted and evaluated.
// Run with: swift run Tutorial04TrainAnyZooModel   (README.md beside this file explains each step)
import Detection
import Foundation
import Tapestry
import Training
import Zoo

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tutorial-04-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: folder) }
var allPassed = true
@MainActor func report(_ ok: Bool, _ line: String) {
    print((ok ? "" : "FAILED: ") + line)
    allPassed = allPassed && ok
}

// 1. Data in COCO format: here a small generated set (zoo make-shapes writes the same layout:
//    annotations/{train,val}.json, train/ and val/ images). Any COCO-format folder works.
let data = folder + "/shapes"
try ShapesDataset(imageSize: 64, maxObjects: 2).write(to: data, trainCount: 24, valCount: 4)

// 2. Settings: the model's shapes preset (its paper defaults with `shapes: false`), then
//    overrides by key, as `zoo train detr --data … --set …` takes them. A tiny DETR, so
//    that this runs in seconds on a CPU.
let tiny = ["model.backbone=resnet18", "model.backbone_width=8", "model.hidden_dim=16", "model.nheads=2",
            "model.enc_layers=1", "model.dec_layers=1", "model.dim_feedforward=32", "model.num_queries=5"]
let settings = try ZooRun.settings(model: "detr", shapes: true, assignments: tiny + [
    "data.path=\(data)", "trainer.batch_size=4", "trainer.epochs=2", "trainer.eval_every=0", "trainer.lr=1e-3"])

// 3. Train: the task (model, criterion, data) and the one trainer every zoo model shares.
@MainActor func makeTrainer(_ directory: String) throws -> Trainer {
    var runSettings = settings
    let (task, description) = try ZooRun.prepare(model: "detr", settings: &runSettings, log: { _ in })
    print("   \(description)")
    let trainer = try Trainer(task: task, config: try runSettings.decode(TrainerConfig.self, section: "trainer"),
                              modelName: "detr", settings: runSettings.json, directory: directory)
    trainer.interactiveProgress = false
    return trainer
}
let run = folder + "/run"
let first = try makeTrainer(run)
first.maxSteps = first.totalSteps / 2                 // stop half-way, as Ctrl-C or --max-steps would
let firstHalf = try first.run()
report(firstHalf.lastStep == 6, "1. trained steps 0–\(firstHalf.lastStep) of \(first.totalSteps), checkpoint \(Checkpoint.latest(in: run).map { ($0 as NSString).lastPathComponent } ?? "none")")

// 4. Resume: a fresh trainer continues from the newest checkpoint exactly (zoo train --resume).
let second = try makeTrainer(run)
try second.resume(from: Checkpoint.latest(in: run)!)
let secondHalf = try second.run()
report(secondHalf.firstStep == 6 && secondHalf.lastStep == 12, "2. resumed at step \(secondHalf.firstStep), finished at \(secondHalf.lastStep); AP \(secondHalf.evaluation?["AP"] ?? .nan)")

// 5. Evaluate and predict from the checkpoint, as zoo eval and zoo predict do.
let (detector, stored, checkpoint, step) = try ZooRun.load(checkpoint: run)
let (_, validation, dataConfig) = try ZooRun.dataset(stored, log: { _ in })
let coco = try DetectionTask.evaluate(detector, on: validation, data: dataConfig)
report(coco.stats.count == 12, "3. \(checkpoint.split(separator: "/").last!) (step \(step)): COCO AP \(coco.stats[0]), AP50 \(coco.stats[1]) on \(validation.images.count) images")
let sample = try validation.sample(0)
let boxes = DetectionTask.predict(detector, [dataConfig.evaluationImage(sample)], sizes: [(sample.height, sample.width)])[0]
report(boxes.count == 5, "4. predicted \(boxes.count) boxes (one per query) for image \(sample.imageId); best score \(boxes.map(\.score).max() ?? 0)")

// 6. Export for sharing: the checkpoint without its optimizer state (zoo export).
var shared = try Checkpoint.read(checkpoint)
shared.optimizer = [:]
try shared.write(to: folder + "/shared.safetensors")
report(try ZooRun.load(checkpoint: folder + "/shared.safetensors").step == 12, "5. exported \(shared.model.count) tensors to shared.safetensors")

// 7. A PyTorch checkpoint (DETR's hub files are in this legacy format) read natively and
//    converted by name into the zoo model (zoo convert FILE.pth --model detr --set …).
let pth = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Tests/ZooTests/Fixtures/tiny-detr-legacy.pth").standardizedFileURL.path
let converted = try ZooRun.convert(pyTorchCheckpoint: pth, model: "detr",
                                   settings: try ZooRun.settings(model: "detr", shapes: false, assignments: tiny + ["model.num_classes=4", "model.frozen_batch_norm=false"]))
try converted.write(to: folder + "/converted.safetensors")
let official = try ZooRun.load(checkpoint: folder + "/converted.safetensors")
let officialAP = try DetectionTask.evaluate(official.detector, on: validation, data: dataConfig).stats[0]
report(converted.model.count == 163 && officialAP.isFinite, "6. converted \(converted.model.count) tensors from tiny-detr-legacy.pth; its AP here \(officialAP)")

print(allPassed ? "all tutorial checks passed" : "some tutorial checks FAILED")
exit(allPassed ? 0 : 1)
