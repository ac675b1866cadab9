import Tapestry

/// SMCA's spatial prior on co-attention (Gao, Zheng, Wang, Dai & Li, "Fast Convergence of
/// DETR with Spatially Modulated Co-Attention", ICCV 2021, eq. 3; SMCA-DETR
/// models/transformer.py `TransformerDecoderLayer.forward_post`).
///
/// Each query and head has a centre p = (p_x, p_y) in feature cells and predicted scales s;
/// at the cell g = (x, y) of an H×W map (integer indices times the cell size, row-major
/// n = y·W + x) the co-attention logit gets the log-Gaussian
///
///     G = −|D| / β,   dx² = (p_x − x)²,  dy² = (p_y − y)²,  with D by `DynamicScale`:
///     type1: dx² + dy²            type2: s·(dx² + dy²)
///     type3: s_x·dx² + s_y·dy²    type4: s_x·dx² + s_y·dy² + s_xy·dx²·dy²
///
/// The scales are squared linear outputs, so they are inverse squared widths.
public enum DynamicScale: String, CaseIterable, Sendable {
    case type1, type2, type3, type4

    /// Scale values predicted per head (the width of `point3` is heads × this).
    public var scalesPerHead: Int {
        switch self {
        case .type1: return 0
        case .type2: return 1
        case .type3: return 2
        case .type4: return 3
        }
    }

    /// The log-Gaussian map G [B, H, Q, h·w] from centres [Q, B, H, 2] (x, y in cells of the
    /// reference map) and squared scales [Q, B, H, `scalesPerHead`] (nil for type1),
    /// bandwidth β = `smooth`. `cellSize` is this map's cell in reference cells (multi-scale
    /// SMCA: its stride / 32), so that a prior covers the same pixels at every scale.
    public func logMap(centres: Tensor, scales: Tensor?, height: Int, width: Int, smooth: Double, cellSize: Double = 1) -> Tensor {
        let (q, b, heads) = (centres.shape[0], centres.shape[1], centres.shape[2])
        check(centres.shape == [q, b, heads, 2], "DynamicScale.logMap: centres must be [Q, B, H, 2], got \(centres.shape)")
        check(self == .type1 ? scales == nil : scales?.shape == [q, b, heads, scalesPerHead],
              "DynamicScale.logMap(\(rawValue)): scales must be \(self == .type1 ? "absent" : "[\(q), \(b), \(heads), \(scalesPerHead)]"), got \(scales?.shape.description ?? "none")")
        let cells = 0..<(height * width)
        let gridX = Tensor(cells.map { Double($0 % width) * cellSize }, shape: [cells.count], dtype: centres.dtype)
        let gridY = Tensor(cells.map { Double($0 / width) * cellSize }, shape: [cells.count], dtype: centres.dtype)
        let p = centres.permuted([1, 2, 0, 3])                                            // [B, H, Q, 2]
        let dx = p.slice(axis: 3, start: 0, end: 1) - gridX, dy = p.slice(axis: 3, start: 1, end: 2) - gridY
        let dx2 = dx * dx, dy2 = dy * dy                                                   // [B, H, Q, h·w]
        let s = scales?.permuted([1, 2, 0, 3])
        func scale(_ k: Int) -> Tensor { s!.slice(axis: 3, start: k, end: k + 1) }
        let distance: Tensor
        switch self {
        case .type1: distance = dx2 + dy2
        case .type2: distance = (dx2 + dy2) * scale(0)
        case .type3: distance = dx2 * scale(0) + dy2 * scale(1)
        case .type4: distance = dx2 * scale(0) + dy2 * scale(1) + dx2 * dy2 * scale(2)
        }
        return -distance.abs() / smooth
    }
}

/// The part of an SMCA decoder layer that predicts its spatial prior from o = norm4(t + q_pos):
/// the centre (first layer: c = size·σ(point1(o))/stride), each head's offset point2(o) and
/// squared scales point3(o)².
protocol SpatialPriorPredictor: AnyObject {
    var norm4: LayerNorm { get }
    var point1: MLP? { get }
    var point2: Linear { get }
    var point3: Linear? { get }
    var dynamicScale: DynamicScale { get }
}

extension SpatialPriorPredictor {
    /// o, the centre logits (first layer), the centre [Q, B, 2], the heads' centres
    /// [Q, B, H, 2] and squared scales [Q, B, H, k].
    func predictPrior(target: Tensor, queryPosition: Tensor, heads: Int, imageSize: Tensor, stride: Double, centre: Tensor?)
        -> (o: Tensor, centreLogits: Tensor?, centre: Tensor, centres: Tensor, scales: Tensor?) {
        check(centre != nil || point1 != nil, "\(type(of: self)): a layer without point1 needs the first layer's centre")
        let (q, b) = (target.shape[0], target.shape[1])
        let o = norm4(target + queryPosition)
        let centreLogits = point1.map { $0(o) }
        let centre = centre ?? imageSize * centreLogits!.sigmoid() / stride
        let centres = centre.unsqueezed(axis: 2) + point2(o).reshaped([q, b, heads, 2])
        let scales = point3.map { layer in
            let s = layer(o)
            return (s * s).reshaped([q, b, heads, dynamicScale.scalesPerHead])
        }
        return (o, centreLogits, centre, centres, scales)
    }
}
