import Tapestry

/// The squared distances between the rows of x [n, d] and of y [m, d], [n, m], as a tensor
/// operation the tape differentiates (`torch.cdist(x, y) ** 2`). Float32 or Float64; both
/// inputs of the same dtype.
///
/// The forward runs the backend's fast kernel; the backward is the derivative written with
/// tensor operations (G the output's gradient):
///
///     ∂L/∂x_i = 2·(Σ_j G_ij · x_i − Σ_j G_ij · y_j)     ∂L/∂y_j = 2·(Σ_i G_ij · y_j − Σ_i G_ij · x_i)
public func squaredDistances(_ x: Tensor, _ y: Tensor) -> Tensor {
    guard x.rank == 2, y.rank == 2, x.shape[1] == y.shape[1], x.dtype == y.dtype, x.dtype.isFloatingPoint else {
        fatalError("squaredDistances: x must be [n, d] and y [m, d] of one floating-point dtype; got \(x.shape) \(x.dtype) and \(y.shape) \(y.dtype)")
    }
    return SquaredDistances()(x, y)
}

/// The operation's forward (the kernel) and backward rule.
struct SquaredDistances: DifferentiableFunction {
    func forward(_ inputs: [Tensor]) -> Tensor {
        let (x, y) = (inputs[0], inputs[1])
        switch x.dtype {
        case .float32: return run(Float.self, x, y)
        case .float64: return run(Double.self, x, y)
        default: fatalError("squaredDistances: \(x.dtype) is not Float32 or Float64")
        }
    }

    /// The kernel on the tensors' elements (copied out and back: the public way in and out
    /// of a tensor).
    private func run<T: FloatElement>(_ type: T.Type, _ x: Tensor, _ y: Tensor) -> Tensor {
        let (n, m, d) = (x.shape[0], y.shape[0], x.shape[1])
        let (xs, ys) = (x.scalars(as: T.self), y.scalars(as: T.self))
        var out = [T](repeating: 0, count: n * m)
        xs.withUnsafeBufferPointer { xp in
            ys.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op in
                    guard let xBase = xp.baseAddress, let yBase = yp.baseAddress, let outBase = op.baseAddress else { return }
                    backend.squaredDistances(xBase, yBase, outBase, n: n, m: m, d: d)
                }
            }
        }
        return Tensor(out, shape: [n, m])
    }

    func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] {
        let (x, y) = (inputs[0], inputs[1])
        let rowSums = gradient.sum(axis: 1, keepDim: true)       // [n, 1]
        let columnSums = gradient.sum(axis: 0).unsqueezed(axis: 1) // [m, 1]
        let gradX = 2 * (rowSums * x - gradient.matmul(y))
        let gradY = 2 * (columnSums * y - gradient.transposed().matmul(x))
        return [gradX, gradY]
    }
}
