import ArgumentParser
import Detection
import Foundation
import Training

/// Loss and evaluation curves of one or several runs, as a PNG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the loss and AP (or accuracy) curves of runs as a PNG, one panel per metric, one line per run.",
        discussion: """
            Reads each run's metrics.jsonl. Without --metric: the training loss, then AP and AP50 (detectors) or \
            top-1 (classifiers) at each evaluation, when the runs have them.
            """)

    @Argument(help: "Run folders (or their metrics.jsonl files).")
    var runs: [String]

    @Option(name: .customLong("metric"), help: "A metric to draw, as logged (train/loss_giou, eval/AR100, …); repeatable.")
    var metrics: [String] = []

    @Option(help: "The PNG to write.")
    var output = "plot.png"

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run folder") }
    }

    func run() throws {
        do {
            let logs = try runs.map { run -> (name: String, records: [(step: Int, values: [String: Double])]) in
                let file = run.hasSuffix(".jsonl") ? run : (run as NSString).appendingPathComponent("metrics.jsonl")
                guard FileManager.default.fileExists(atPath: file) else { throw PlotError(reason: "\(run) has no metrics.jsonl (is it a run folder of zoo train?)") }
                let (records, skipped) = try MetricsLog.read(file)
                if skipped > 0 { warn("\(file): passed over \(skipped) line\(skipped == 1 ? "" : "s") that are not records") }
                let folder = run.hasSuffix(".jsonl") ? (run as NSString).deletingLastPathComponent : run
                return ((folder as NSString).lastPathComponent, records)
            }
            let logged = Set(logs.flatMap { $0.records.flatMap(\.values.keys) })
            let chosen = metrics.isEmpty ? ["train/loss", "eval/AP", "eval/AP50", "eval/top1"].filter(logged.contains) : metrics
            if let unknown = chosen.first(where: { !logged.contains($0) }) {
                throw PlotError(reason: "no run logged \(unknown); they logged \(logged.sorted().joined(separator: ", "))")
            }
            guard !chosen.isEmpty else { throw PlotError(reason: "the runs have no metrics yet") }
            let panels = chosen.map { metric in
                LinePlot(title: metric, series: logs.map { log in
                    .init(name: log.name, points: log.records.compactMap { record in record.values[metric].map { (Double(record.step), $0) } })
                }).render()
            }
            let sheet = Drawing.sheet(panels.map { (title: "", image: $0) }, columns: panels.count == 1 ? 1 : 2)
            try ImageIO.writePNG(sheet, to: output)
            print("wrote \(output): \(chosen.joined(separator: ", ")) for \(logs.map(\.name).joined(separator: ", "))")
        } catch {
            fail("\(error)")
        }
    }
}

struct PlotError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
