// Tutorial 02: defining a new attention layer, checking its gradients, saving its weights.
// Run with: swift run Tutorial02NewAttentionLayer   (README.md beside this file explains each step)
import Foundation
import Tapestry
import TapestryNN

/// 1. A new layer: multi-head self-attention over a sequence with a learned per-head
///    distance penalty (in the spirit of ALiBi, Press et al. 2022):
///
///        logits = q·kᵀ/√d − softplus(slope_h)·|i − j|
///
///    It reuses the shared attention core, which accepts any additive logit bias.
final class DistancePenaltyAttention: Module {
    let qkv: Linear            // → key "qkv.weight", "qkv.bias"
    let outProj: Linear        // → key "out_proj.weight", "out_proj.bias"
    let slopes: Parameter      // → key "slopes"
    let heads: Int

    init(dModel: Int, heads: Int) {
        qkv = Linear(dModel, 3 * dModel)
        outProj = Linear(dModel, dModel)
        slopes = Parameter(Tensor.zeros([heads]))
        self.heads = heads
    }

    /// x [B, L, d] → [B, L, d].
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let parts = qkv(x).reshaped([b, l, 3, heads, d / heads]).permuted([2, 0, 3, 1, 4])   // [3, B, H, L, dh]
        let positions = Tensor.arange(0, Double(l), dtype: x.dtype)
        let distance = (positions.unsqueezed(axis: 1) - positions.unsqueezed(axis: 0)).abs()  // [L, L]
        let bias = -slopes.value.softplus().reshaped([1, heads, 1, 1]) * distance              // [1, H, L, L]
        let (out, _) = scaledDotProductAttention(query: parts.select(axis: 0, index: 0), key: parts.select(axis: 0, index: 1),
                                                 value: parts.select(axis: 0, index: 2), bias: bias)
        return outProj(out.permuted([0, 2, 1, 3]).reshaped([b, l, d]))
    }
}

let layer = DistancePenaltyAttention(dModel: 8, heads: 2)

// 2. Its parameters are found and named by reflection, like PyTorch state-dict keys.
print("1. keys: \(layer.stateDict().map(\.0).joined(separator: ", "))")
print("   \(layer.parameterCount()) parameters")

// 3. Check every gradient (input, qkv, out_proj, slopes) against finite differences in Float64.
var rng = RandomGenerator(seed: 1)
let sequence = Tensor.normal([2, 5, 8], dtype: .float64, generator: &rng)
let report = gradcheck(layer, inputs: [sequence]) { layer($0[0]) }
print("2. \(report)")

// 4. Save the weights as safetensors and load them into a fresh layer by name.
let path = FileManager.default.temporaryDirectory.appendingPathComponent("distance-attention-\(getpid()).safetensors").path
defer { try? FileManager.default.removeItem(atPath: path) }
try layer.save(to: path)
let copy = DistancePenaltyAttention(dModel: 8, heads: 2)
copy.convert(to: .float64)          // gradcheck left `layer` in Float64; loading keeps each module's dtype
let loadReport = try copy.load(from: path)
let same = layer(sequence).doubles() == copy(sequence).doubles()
print("3. \(loadReport); outputs identical after loading: \(same)")

guard report.passed, loadReport.isClean, same else {
    print("tutorial check failed")
    exit(1)
}
print("all tutorial checks passed")
