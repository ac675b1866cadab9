/// Creating tensors: constants, ranges, identity, and seeded random values.

extension Tensor {
    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32) -> Tensor {
        struct Fill: ElementKernel {
            let target: Tensor, value: Double
            func run<T: TensorElement>(_: T.Type) {
                target.pointer(T.self).initialize(repeating: T(fromDouble: value), count: target.count)
            }
        }
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        dtype.dispatch(Fill(target: t, value: value))
        return t
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, value: 0, dtype: dtype) }
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, value: 1, dtype: dtype) }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape, dtype: t.dtype) }
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape, dtype: t.dtype) }

    /// start, start + step, … up to (not including) `end`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        check(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Double($0) * step }, shape: [n], dtype: dtype)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        check(count >= 0, "linspace: count must not be negative")
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        // Fill from both ends, as PyTorch does, so the last value is exactly `end`.
        let values = (0..<count).map { i in i < count / 2 ? start + step * Double(i) : end - step * Double(count - 1 - i) }
        return Tensor(values, shape: [count], dtype: dtype)
    }

    /// The n×n (or n×m) identity matrix.
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let columns = m ?? n
        var values = [Double](repeating: 0, count: n * columns)
        for i in 0..<Swift.min(n, columns) { values[i * columns + i] = 1 }
        return Tensor(values, shape: [n, columns], dtype: dtype)
    }

    /// Uniform values in [low, high) from `generator` (floating-point dtypes).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: inout RandomGenerator) -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: generator.fillUniform(t.pointer(Float.self), count: t.count, low: low, high: high)
        case .float64: generator.fillUniform(t.pointer(Double.self), count: t.count, low: low, high: high)
        default: fatalError("uniform: \(dtype) is not a floating-point dtype")
        }
        return t
    }

    /// Normal values with the given mean and standard deviation from `generator`.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              generator: inout RandomGenerator) -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: generator.fillNormal(t.pointer(Float.self), count: t.count, mean: mean, std: std)
        case .float64: generator.fillNormal(t.pointer(Double.self), count: t.count, mean: mean, std: std)
        default: fatalError("normal: \(dtype) is not a floating-point dtype")
        }
        return t
    }
}
