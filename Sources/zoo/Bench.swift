import ArgumentParser
import Foundation
import Tapestry
import TapestryNN
import Detection
import Zoo

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the backend and the zoo's models.",
        discussion: "Build in release (`make zoo`) for meaningful numbers.",
        subcommands: [BenchLayers.self, BenchModel.self, BenchAttentionMemory.self], defaultSubcommand: BenchLayers.self)
}

struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "gemm, element-wise ops, conv2d, attention layers, the tape, and each model's shapes-preset step.",
        discussion: "Each figure is the median of --repeats runs after two warm-ups, as torch_anchor.py times PyTorch's.")

    @Option(help: "Timed runs per measurement (their median is reported).")
    var repeats = 5

    @Option(name: .customLong("only"), help: "Run only these sections (repeatable): gemm, elementwise, conv2d, tape, attention (or one of its layers: mha, deformable, sasa), models.")
    var sections: [String] = []

    @Option(name: .customLong("conv-input"), help: "Input of the conv2d section as NxCxHxW (C→C channels, stride 1, padding k/2).")
    var convolutionInput = "8x64x56x56"

    @Option(name: .customLong("conv-kernel"), help: "Kernel size k of the conv2d section (odd).")
    var convolutionKernel = 3

    /// `--conv-input` as [N, C, H, W].
    var convolutionShape: [Int]? {
        let sizes = convolutionInput.split(separator: "x").compactMap { Int($0) }
        return sizes.count == 4 && sizes.allSatisfy({ $0 > 0 }) ? sizes : nil
    }

    func validate() throws {
        guard convolutionKernel > 0 && convolutionKernel % 2 == 1 else {
            throw ValidationError("--conv-kernel must be odd and positive, got \(convolutionKernel)")
        }
        guard convolutionShape != nil else { throw ValidationError("--conv-input must be NxCxHxW with positive sizes, got \(convolutionInput)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        let unknown = sections.filter { !Self.sectionNames.contains($0) }
        guard unknown.isEmpty else {
            throw ValidationError("unknown section \(unknown.joined(separator: ", ")); the sections are \(Self.sectionNames.joined(separator: ", "))")
        }
    }

    static let sectionNames = ["gemm", "elementwise", "conv2d", "tape", "attention", "mha", "deformable", "sasa", "models"]

    func run() {
        print("Tapestry \(BuildInfo.version) bench — backend: \(BuildInfo.backendSummary)")
        print("kernel threads \(Parallel.threadCount), fused multiply-add \(BuildInfo.fusedMultiplyAdd ? "on" : "off")\n")
        let all: [(String, () -> Void)] = [("gemm", gemm), ("elementwise", elementwise), ("conv2d", convolution), ("tape", tape),
                                           ("mha", multiheadAttention), ("deformable", deformableAttention), ("sasa", localAttention),
                                           ("models", trainingSteps)]
        let attentionLayers: Set = ["mha", "deformable", "sasa"]
        if sections.isEmpty || sections.contains(where: { $0 == "attention" || attentionLayers.contains($0) }) {
            print("\nattention layers, Float32, forward + backward:")
        }
        for (name, section) in all where sections.isEmpty || sections.contains(name) || (attentionLayers.contains(name) && sections.contains("attention")) {
            section()
        }
    }

    /// Median wall time of `repeats` runs of `body` after two warm-ups, in seconds.
    func timed(_ body: () -> Void) -> Double {
        ModelBenchmark.median(warmups: 2, runs: repeats, body)
    }

    func gemm() {
        print("gemm, Float32, C = A·B (n×n):")
        var rng = RandomGenerator(seed: 1)
        for n in [256, 512, 1024, 2048] {
            let a = (0..<(n * n)).map { _ in Float(rng.nextUniform()) }, b = a
            var c = [Float](repeating: 0, count: n * n)
            let seconds = timed {
                backend.gemm(transposeA: false, transposeB: false, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n, accumulate: false)
            }
            var line = "  n = \(n):".padding(toLength: 14, withPad: " ", startingAt: 0) + format(2 * pow(Double(n), 3) / seconds / 1e9) + " GFLOP/s"
            #if OpenBLAS
            let reference = timed {
                ReferenceBackend().gemm(transposeA: false, transposeB: false, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n, accumulate: false)
            }
            line += "   (reference Swift kernel: \(format(2 * pow(Double(n), 3) / reference / 1e9)) GFLOP/s)"
            #endif
            print(line)
        }
    }

    func elementwise() {
        print("\nelement-wise, Float32, 4M elements:")
        var rng = RandomGenerator(seed: 2)
        let count = 1 << 22
        let x = Tensor.uniform([count], generator: &rng)
        let row = Tensor.uniform([1024], generator: &rng), matrix = x.reshaped([count / 1024, 1024])
        // a + b adds x to itself, the work torch_anchor.py times (`x + x`): 4M elements read, 4M written.
        for (name, op) in [("a + b (b = a)", { _ = x + x }), ("a * b (broadcast row)", { _ = matrix * row }),
                           ("exp(a)", { _ = x.exp() }), ("sum(a)", { _ = x.sum() })] as [(String, () -> Void)] {
            let seconds = timed(op)
            print("  \(name):".padding(toLength: 26, withPad: " ", startingAt: 0) + format(Double(count) / seconds / 1e9) + " G elements/s")
        }
    }

    func convolution() {
        let shape = convolutionShape!, (n, c, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let stage = shape == [8, 64, 56, 56] ? " (ResNet stage 1)" : ""
        let (k, p) = (convolutionKernel, convolutionKernel / 2)
        print("\nconv2d \(k)×\(k), \(c)→\(c) channels, input \(n)×\(c)×\(height)×\(width)\(stage), Float32:")
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.normal(shape, generator: &rng).requiringGrad()
        let w = (Tensor.normal([c, c, k, k], generator: &rng) * 0.05).requiringGrad()
        let flops = 2.0 * Double(n * c * c * k * k * height * width)
        let forward = timed { _ = noGrad { x.conv2d(weight: w, padding: (p, p)) } }
        let both = timed {
            x.zeroGrad(); w.zeroGrad()
            x.conv2d(weight: w, padding: (p, p)).sum().backward()
        }
        print("  forward:             \(format(forward * 1000)) ms  (\(format(flops / forward / 1e9)) GFLOP/s)")
        print("  forward + backward:  \(format(both * 1000)) ms  (\(format(3 * flops / both / 1e9)) GFLOP/s)")
    }

    func tape() {
        print("\ntape overhead, one-element Float32 tensors, 10,000 chained multiplications:")
        let steps = 10_000
        let leaf = Tensor([Float(1)]).requiringGrad(), factor = Tensor([Float(1.0001)])
        var chain = leaf
        let untracked = timed { var v = leaf.detached(); for _ in 0..<steps { v = v * factor } }
        let recorded = timed { chain = leaf; for _ in 0..<steps { chain = chain * factor } }
        let backward = timed {
            var v = leaf
            for _ in 0..<steps { v = v * factor }
            leaf.zeroGrad()
            v.backward()
        } - recorded
        print("  op without tape:     \(format(untracked / Double(steps) * 1e6)) µs")
        print("  op recorded:         \(format(recorded / Double(steps) * 1e6)) µs  (tape cost \(format((recorded - untracked) / Double(steps) * 1e6)) µs per op)")
        print("  backward per op:     \(format(backward / Double(steps) * 1e6)) µs")
        withExtendedLifetime(chain) {}
    }

    func format(_ value: Double) -> String { String(format: value >= 100 ? "%.0f" : value >= 10 ? "%.1f" : "%.2f", value) }

    /// Forward + backward time of a layer, in milliseconds (median of `repeats`).
    func forwardBackward(_ parameters: [Parameter], _ body: () -> Tensor) -> Double {
        timed {
            for p in parameters { p.value.grad = nil }
            body().sum().backward()
        } * 1000
    }

    func multiheadAttention() {
        var rng = RandomGenerator(seed: 4)
        let attention = MultiheadAttention(embedDim: 256, heads: 8)
        let sequence = Tensor.normal([1024, 2, 256], generator: &rng).requiringGrad()
        for path in [AttentionPath.plain, .lean] {
            let mha = forwardBackward(attention.parameters) {
                AttentionPath.$preferred.withValue(path) { attention(query: sequence, key: sequence, value: sequence, needWeights: false).output }
            }
            print("  MultiheadAttention (B 2, 8 heads, d 256, sequence 1024), \(path == .plain ? "plain" : "lean "): \(format(mha)) ms")
        }
    }

    func deformableAttention() {
        var rng = RandomGenerator(seed: 5)
        let shapes = [(80, 80), (40, 40), (20, 20), (10, 10)]
        let tokens = shapes.reduce(0) { $0 + $1.0 * $1.1 }
        let deformable = MultiScaleDeformableAttention(dModel: 256, levels: 4, heads: 8, points: 4)
        let queries = Tensor.normal([2, 300, 256], generator: &rng).requiringGrad()
        let memory = Tensor.normal([2, tokens, 256], generator: &rng)
        let references = Tensor.uniform([2, 300, 4, 2], generator: &rng)
        let variants: [(String, Bool, MultiScaleDeformableAttention.ProjectionOrder)] = [
            ("fused, automatic order (sample then project here)", true, .automatic),
            ("fused, project then sample", true, .projectThenSample),
            ("composite, project then sample", false, .projectThenSample),
        ]
        for (name, fused, order) in variants {
            (deformable.fused, deformable.projectionOrder) = (fused, order)
            let ms = forwardBackward(deformable.parameters) {
                deformable(query: queries, referencePoints: references, input: memory, spatialShapes: shapes)
            }
            print("  deformable attention (B 2, 300 queries, 4 levels 80²…10², 8 heads, 4 points), \(name): \(format(ms)) ms")
        }
    }

    func localAttention() {
        var rng = RandomGenerator(seed: 6)
        let sasa = LocalSelfAttention(inChannels: 64, outChannels: 64, kernelSize: 7, heads: 8)
        let image = Tensor.normal([2, 64, 32, 32], generator: &rng).requiringGrad()
        for fused in [true, false] {
            sasa.fused = fused
            let local = forwardBackward(sasa.parameters) { sasa(image) }
            print("  SASA layer (64 channels, 8 heads, k 7, input 2×64×32×32), \(fused ? "fused    " : "composite"): \(format(local)) ms")
        }
    }

    /// One training step and inference pass of every zoo model's shapes preset (`zoo bench model`).
    func trainingSteps() {
        print("\nzoo models, Float32, shapes preset, detectors at batch 8 of 128² (zoo bench model NAME --paper for the paper's):")
        for entry in Registry.models {
            let (batch, size): (Int?, Int?) = entry.isDetector ? (8, 128) : (nil, nil)
            do { print("  " + (try ModelBenchmark.run(model: entry.name, paper: false, batch: batch, size: size)).summary) } catch {
                print("  \(entry.name): cannot be benchmarked: \(error)")
            }
        }
    }
}
