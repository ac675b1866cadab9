// swift-tools-version: 6.1
import PackageDescription

/// Tapestry: a reverse-mode tape autodiff core, a layer library and a detector zoo.
///
/// The compute backend is chosen with a package trait:
/// - `swift build` (default trait `OpenBLAS`): gemm/gemv through OpenBLAS, linear algebra
///   through LAPACKE (Debian: libopenblas-dev, liblapacke-dev).
/// - `swift build --disable-default-traits`: the pure-Swift reference backend, no system
///   libraries needed.
let package = Package(
    name: "Tapestry",
    products: [
        .library(name: "Tapestry", targets: ["Tapestry"]),
        .library(name: "TapestryNN", targets: ["TapestryNN"]),
        .library(name: "Detection", targets: ["Detection"]),
        .library(name: "Classification", targets: ["Classification"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Zoo", targets: ["Zoo"]),
        .library(name: "Parity", targets: ["Parity"]),
        .executable(name: "zoo", targets: ["zoo"]),
    ],
    traits: [
        .trait(name: "OpenBLAS", description: "Route gemm/gemv to OpenBLAS and linear algebra to LAPACKE."),
        .default(enabledTraits: ["OpenBLAS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation`: the API reference (make docs).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        // The thread's floating-point control word (flushing subnormals to zero).
        .target(name: "CFloatingPointMode"),
        // Vector instructions Swift's SIMD types cannot spell (AVX-512's vscalefps), inlined.
        .target(name: "CFastMath"),
        .target(
            name: "Tapestry",
            dependencies: ["CFloatingPointMode", "CFastMath", .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"]))]),
        // PyTorch's .pth files (zip and legacy), through a restricted unpickler.
        .target(name: "TorchCheckpoint", dependencies: ["Tapestry"]),
        .target(name: "TapestryNN", dependencies: ["Tapestry", "TorchCheckpoint"]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .target(name: "Detection", dependencies: ["Tapestry", "TapestryNN", "CPNG", "CTurboJPEG"]),
        .target(name: "Classification", dependencies: ["Tapestry", "TapestryNN", "Detection"]),
        .target(name: "Training", dependencies: ["Tapestry", "TapestryNN"]),
        .target(name: "Zoo", dependencies: ["Tapestry", "TapestryNN", "TorchCheckpoint", "Detection", "Classification", "Training"], path: "Zoo", exclude: ["README.md"]),
        .target(name: "Parity", dependencies: ["Tapestry", "TapestryNN", "Detection", "Classification", "Training", "Zoo"]),
        .executableTarget(
            name: "zoo",
            dependencies: ["Tapestry", "TapestryNN", "TorchCheckpoint", "Detection", "Classification", "Training", "Zoo", "Parity", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The readers under libFuzzer (make fuzz), or replaying saved inputs when built plainly.
        .executableTarget(name: "ZooFuzz", dependencies: ["Tapestry", "TorchCheckpoint", "Detection", "Classification", "Training", "Zoo"]),
        .testTarget(name: "TapestryTests", dependencies: ["Tapestry"], exclude: ["Fixtures"]),
        .testTarget(name: "TapestryNNTests", dependencies: ["TapestryNN"], exclude: ["Fixtures"]),
        .testTarget(name: "TorchCheckpointTests", dependencies: ["TorchCheckpoint", "TapestryNN"], exclude: ["Fixtures"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection"], exclude: ["Fixtures"]),
        .testTarget(name: "ClassificationTests", dependencies: ["Classification"]),
        .testTarget(name: "ZooTests", dependencies: ["Zoo"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "ParityTests", dependencies: ["Parity"], exclude: ["Fixtures"]),

        // Tutorials: each is a markdown walk-through with a small program that CI runs.
        .executableTarget(name: "Tutorial01TapeAndGradcheck", dependencies: ["Tapestry"],
                          path: "Tutorials/01-tape-and-gradcheck", exclude: ["README.md"]),
        .executableTarget(name: "Tutorial02NewAttentionLayer", dependencies: ["TapestryNN"],
                          path: "Tutorials/02-new-attention-layer", exclude: ["README.md"]),
        .executableTarget(name: "Tutorial03TrainYourOwnModel", dependencies: ["Training"],
                          path: "Tutorials/03-train-your-own-model", exclude: ["README.md"]),
        .executableTarget(name: "Tutorial04TrainAnyZooModel", dependencies: ["Tapestry", "Detection", "Training", "Zoo"],
                          path: "Tutorials/04-train-any-zoo-model", exclude: ["README.md"]),
    ]
)
