// swift-tools-version: 6.1
import PackageDescription

/// A package of your own with a kernel of its own. Its trait `OpenBLAS` (on by default)
/// turns on Tapestry's: `swift build` runs every gemm through OpenBLAS,
/// `swift build --disable-default-traits` through Tapestry's plain-Swift reference kernels.
/// The code is the same; only the backend under it changes.
let package = Package(
    name: "MyKernels",
    products: [.library(name: "MyKernels", targets: ["MyKernels"])],
    traits: [
        .trait(name: "OpenBLAS", description: "Build Tapestry with its OpenBLAS + LAPACKE backend."),
        .default(enabledTraits: ["OpenBLAS"]),
    ],
    dependencies: [
        .package(name: "Tapestry", path: "../..", traits: [.trait(name: "OpenBLAS", condition: .when(traits: ["OpenBLAS"]))]),
    ],
    targets: [
        .target(name: "MyKernels", dependencies: [.product(name: "Tapestry", package: "Tapestry")]),
        .testTarget(name: "MyKernelsTests", dependencies: ["MyKernels"]),
    ]
)
