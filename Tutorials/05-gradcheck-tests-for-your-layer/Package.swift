// swift-tools-version: 6.1
import PackageDescription

/// A package of your own that depends on Tapestry by path. `traits` picks Tapestry's
/// backend: ["OpenBLAS"] (its default), or [] for the pure-Swift reference backend.
let package = Package(
    name: "MyLayers",
    products: [.library(name: "MyLayers", targets: ["MyLayers"])],
    dependencies: [
        .package(name: "Tapestry", path: "../..", traits: ["OpenBLAS"]),
    ],
    targets: [
        .target(name: "MyLayers", dependencies: [.product(name: "TapestryNN", package: "Tapestry")]),
        .testTarget(name: "MyLayersTests", dependencies: ["MyLayers"], resources: [.copy("rmsnorm-reference.safetensors")]),
    ]
)
