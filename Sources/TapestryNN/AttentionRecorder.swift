import Tapestry

/// Collects the attention weights of every `MultiheadAttention` of a model while it runs,
/// the sampling points of every `MultiScaleDeformableAttention` and the neighbourhood
/// weights of every `LocalSelfAttention`, by the layer's
/// state-dict name, without any change to the model's code (DETR's own notebooks hook
/// `multihead_attn` for the same pictures):
///
///     let recorder = AttentionRecorder(model: detector)
///     let output = recorder.record { detector(images: x, mask: m) }
///     let cross = recorder.records.last { $0.layer.hasSuffix("multihead_attn") }!.weights   // [B, H, L, S]
///
/// Layers that would take the lean path compute their weights on the plain path while
/// recording (same outputs, the memory of the plain path).
public final class AttentionRecorder: @unchecked Sendable {
    /// One attention call: the layer's name and its weights per head [B, H, L, S], softmax
    /// over the S keys (before dropout), in the order the calls ran; with the logit bias the
    /// caller passed (SMCA's log-Gaussian priors), masks not included.
    public struct Record {
        public let layer: String
        public let weights: Tensor
        public let bias: Tensor?
    }

    /// One deformable attention call: the layer's name, where each head sampled and with
    /// which weight, and the feature levels' shapes.
    public struct SamplingRecord {
        public let layer: String
        /// [B, Lq, M, L, P, 2]: normalized (x, y) over level l's map (0 and 1 are its outer edges).
        public let locations: Tensor
        /// [B, Lq, M, L, P]: softmax over each head's L·P points.
        public let weights: Tensor
        /// (H_l, W_l) of each level.
        public let spatialShapes: [(height: Int, width: Int)]
    }

    /// One local self-attention call (`LocalSelfAttention`, SASA): each pixel's weights over
    /// its k×k neighbourhood.
    public struct NeighbourhoodRecord {
        public let layer: String
        /// [B, heads, k², H, W]: softmax over the window offsets a·k + b (row a, column b,
        /// centred on the pixel), neighbours outside the map included.
        public let weights: Tensor
        public let kernelSize: Int
    }

    public private(set) var records: [Record] = []
    public private(set) var samplings: [SamplingRecord] = []
    public private(set) var neighbourhoods: [NeighbourhoodRecord] = []
    private let names: [ObjectIdentifier: String]

    @TaskLocal static var active: AttentionRecorder?

    public init(model: Module) {
        names = Dictionary(model.namedModules().map { (ObjectIdentifier($0.1), $0.0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Runs `body` with this recorder collecting (on this task only).
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        try Self.$active.withValue(self) { try body() }
    }

    func add(_ layer: Module, weights: Tensor, bias: Tensor?) {
        records.append(Record(layer: name(of: layer), weights: weights.detached(), bias: bias?.detached()))
    }

    func addSampling(_ layer: Module, locations: Tensor, weights: Tensor, spatialShapes: [(Int, Int)]) {
        samplings.append(SamplingRecord(layer: name(of: layer), locations: locations.detached(), weights: weights.detached(),
                                        spatialShapes: spatialShapes.map { (height: $0.0, width: $0.1) }))
    }

    func addNeighbourhood(_ layer: Module, weights: Tensor, kernelSize: Int) {
        neighbourhoods.append(NeighbourhoodRecord(layer: name(of: layer), weights: weights.detached(), kernelSize: kernelSize))
    }

    private func name(of layer: Module) -> String { names[ObjectIdentifier(layer)] ?? "\(type(of: layer))" }
}
