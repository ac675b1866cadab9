import Foundation

/// Training progress for people: on a terminal a bar redrawn in place on standard error,
/// otherwise (logs, CI) a plain line on standard output every `every` steps.
final class ProgressReporter {
    let totalSteps: Int
    let every: Int
    let interactive: Bool
    private let started = Date()
    private let firstStep: Int
    private var barShown = false

    init(totalSteps: Int, firstStep: Int, every: Int, interactive: Bool = isatty(STDERR_FILENO) != 0) {
        (self.totalSteps, self.firstStep, self.every, self.interactive) = (totalSteps, firstStep, every, interactive)
    }

    /// Reports that `step` steps are done.
    func update(step: Int, epoch: Int, loss: Double, learningRate: Double) {
        let done = step - firstStep, elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Self.duration(Double(totalSteps - step) / rate) : "?"
        let figures = String(format: "epoch %d  loss %.4f  lr %.1e  %.2f steps/s  eta %@", epoch, loss, learningRate, rate, eta)
        if interactive {
            let width = 24, filled = totalSteps > 0 ? min(width, width * step / totalSteps) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2Kstep \(step)/\(totalSteps) \(bar)  \(figures)".utf8))
            barShown = true
        } else if step % every == 0 || step == totalSteps || done == 1 {
            FileHandle.standardOutput.write(Data("step \(step)/\(totalSteps)  \(figures)\n".utf8))
        }
    }

    /// Prints a line without tearing the bar.
    func message(_ text: String) {
        if barShown {
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
            barShown = false
        }
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// "1h02m", "3m20s", "12s".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
