import Tapestry

/// SMCA's spatial prior on co-attention (Gao, Zheng, Wang, Dai & Li, "Fast Convergence of
/// DETR with Spatially Modulated Co-Attention", ICCV 2021, eq. 3; SMCA-DETR
/// models/transformer.py `TransformerDecoderLayer.forward_post`).
///
/// Each query and head has a centre p = (p_x, p_y) in feature cells and predicted scales s;
/// at the cell g = (x, y) of an H×W map (integer indices, row-major n = y·W + x) the
/// co-attention logit gets the log-Gaussian
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

    /// The log-Gaussian map G [B, H, Q, h·w] from centres [Q, B, H, 2] (x, y in feature
    /// cells) and squared scales [Q, B, H, `scalesPerHead`] (nil for type1), bandwidth β = `smooth`.
    public func logMap(centres: Tensor, scales: Tensor?, height: Int, width: Int, smooth: Double) -> Tensor {
        let (q, b, heads) = (centres.shape[0], centres.shape[1], centres.shape[2])
        check(centres.shape == [q, b, heads, 2], "DynamicScale.logMap: centres must be [Q, B, H, 2], got \(centres.shape)")
        check(self == .type1 ? scales == nil : scales?.shape == [q, b, heads, scalesPerHead],
              "DynamicScale.logMap(\(rawValue)): scales must be \(self == .type1 ? "absent" : "[\(q), \(b), \(heads), \(scalesPerHead)]"), got \(scales?.shape.description ?? "none")")
        let cells = 0..<(height * width)
        let gridX = Tensor(cells.map { Double($0 % width) }, shape: [cells.count], dtype: centres.dtype)
        let gridY = Tensor(cells.map { Double($0 / width) }, shape: [cells.count], dtype: centres.dtype)
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
