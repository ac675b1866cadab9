import Foundation
import Tapestry

/// Weight initialization schemes, with PyTorch's definitions of fan-in and fan-out:
/// for a weight [out, in, k…], fanIn = in·Πk and fanOut = out·Πk.
public enum Initialization {
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        check(shape.count >= 2, "fans: a weight needs at least 2 axes, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// U(−b, b) with b = gain·√(3 / fanIn), gain = √(2 / (1 + a²)) (He et al., 2015).
    /// PyTorch's default for Linear and Conv weights is a = √5, i.e. b = 1/√fanIn.
    public static func kaimingUniform(_ shape: [Int], a: Double = 5.0.squareRoot(), dtype: DType = .float32) -> Tensor {
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = gain * (3 / Double(fans(shape).fanIn)).squareRoot()
        return uniform(shape, bound: bound, dtype: dtype)
    }

    /// U(−b, b) with b = gain·√(6 / (fanIn + fanOut)) (Glorot & Bengio, 2010).
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, dtype: DType = .float32) -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        return uniform(shape, bound: gain * (6 / Double(fanIn + fanOut)).squareRoot(), dtype: dtype)
    }

    /// N(0, (gain / √fanOut)²) with gain √2: `kaiming_normal_(mode='fan_out', nonlinearity='relu')`.
    public static func kaimingNormalFanOut(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        normal(shape, std: (2 / Double(fans(shape).fanOut)).squareRoot(), dtype: dtype)
    }

    /// U(−bound, bound) from the default generator.
    public static func uniform(_ shape: [Int], bound: Double, dtype: DType = .float32) -> Tensor {
        DefaultRandom.draw { Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: &$0) }
    }

    /// N(mean, std²) from the default generator.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32) -> Tensor {
        DefaultRandom.draw { Tensor.normal(shape, mean: mean, std: std, dtype: dtype, generator: &$0) }
    }
}
