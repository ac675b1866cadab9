import Tapestry
import TapestryNN

/// The deterministic weight recipe of the reference fixtures (shared/fixtures/FORMAT.md):
/// every floating-point parameter and buffer gets values from a hash of its state-dict
/// name, so a fixture needs to ship no weights.
///
/// key = fnv1a64(name) ⊕ seed; for element i, z = SplitMix64 finalizer of
/// key + (i + 1)·0x9e3779b97f4a7c15; u = (z >> 40)/2²⁴; r = 2u − 1; then
/// rank ≥ 2: r·√(3/fanIn) with fanIn = N/s₀; names ending in running_var: 0.75 + 0.25r;
/// ending in weight: 1 + 0.1r; anything else: 0.1r. Computed in Double, rounded once to Float32.
public enum WeightRecipe {
    /// 64-bit FNV-1a of the UTF-8 bytes of `text`.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The recipe's Float32 values for a tensor of `shape` named `name`.
    public static func values(name: String, shape: [Int], seed: UInt64) -> [Float] {
        let key = fnv1a64(name) ^ seed
        let count = shape.reduce(1, *)
        let value: (Double) -> Double
        if shape.count >= 2 {
            let bound = (3 / Double(count / shape[0])).squareRoot()
            value = { $0 * bound }
        } else if name.hasSuffix("running_var") {
            value = { 0.75 + 0.25 * $0 }
        } else if name.hasSuffix("weight") {
            value = { 1 + 0.1 * $0 }
        } else {
            value = { 0.1 * $0 }
        }
        return (0..<count).map { i in
            var z = key &+ UInt64(i + 1) &* 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z = z ^ (z >> 31)
            let u = Double(z >> 40) / Double(1 << 24)
            return Float(value(2 * u - 1))
        }
    }

    /// Sets every floating-point parameter and buffer of `module` to its recipe values, in
    /// `dtype`. A shared parameter takes the values of its last key, as when the recipe
    /// writes a PyTorch state dict in order.
    public static func apply(to module: Module, seed: UInt64, dtype: DType) {
        for (name, parameter) in module.namedParameters(includingShared: true) where parameter.value.dtype.isFloatingPoint {
            parameter.value = Tensor(values(name: name, shape: parameter.shape, seed: seed), shape: parameter.shape).cast(to: dtype)
        }
        for (name, buffer) in module.namedBuffers() where buffer.value.dtype.isFloatingPoint {
            buffer.value = Tensor(values(name: name, shape: buffer.shape, seed: seed), shape: buffer.shape).cast(to: dtype)
        }
    }
}
