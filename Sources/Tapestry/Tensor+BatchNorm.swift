/// Batch normalization in training mode as one operation with a hand-written backward
/// pass (Ioffe & Szegedy, "Batch Normalization", 2015):
///
///     μ = mean over (N, H, W),  σ² = biased variance,  x̂ = (x − μ)/√(σ² + ε)
///     y = x̂·γ + β
///     dβ = Σ g,  dγ = Σ g·x̂,  dx = γ/√(σ² + ε) · (g − Σg/M − x̂·Σ(g·x̂)/M)   (M = N·H·W)
///
/// Two passes forward (statistics, then the map) and two backward, per channel, channels
/// split between threads — against about fifteen tensor operations, each a pass over the
/// activations, for the same formula written with tensor ops (`compositeBatchNorm`, which
/// tests compare it with and which is differentiated when second derivatives are asked for).

extension Tensor {
    /// y = (x − μ)/√(σ² + ε)·weight + bias per channel of x [N, C, …], with the batch's
    /// mean μ and biased variance σ² (returned, off the tape, for running statistics).
    public func batchNormTraining(weight: Tensor, bias: Tensor, eps: Double) -> (output: Tensor, mean: Tensor, variance: Tensor) {
        check(rank >= 2 && weight.shape == [shape[1]] && bias.shape == [shape[1]],
              "batchNorm: input [N, C, …] with weight and bias [C] expected; got \(shape), \(weight.shape), \(bias.shape)")
        check(dtype == weight.dtype && dtype == bias.dtype, "batchNorm: dtypes differ (\(dtype), \(weight.dtype), \(bias.dtype))")
        let geometry = ChannelGeometry(shape)
        check(geometry.batch * geometry.length > 0, "batchNorm: no values per channel in \(shape)")
        let x = detached().contiguous(), (w, b) = (weight.detached().contiguous(), bias.detached().contiguous())
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        let mean = Tensor(uninitializedShape: [geometry.channels], dtype: dtype)
        let variance = Tensor(uninitializedShape: [geometry.channels], dtype: dtype)
        dtype.dispatchFloat(BatchNormForward(x: x, weight: w, bias: b, out: out, mean: mean, variance: variance, eps: eps, g: geometry),
                            operation: "batchNorm")
        let y = out.recorded("batchNorm", [self, weight, bias]) { grad in
            if GradMode.isEnabled {
                // createGraph: gradients as differentiable tensor ops, through the composite.
                return Tensor.gradientsThroughComposite([self, weight, bias], grad) {
                    self.compositeBatchNorm(weight: weight, bias: bias, eps: eps)
                }
            }
            let gradInput = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
            let gradWeight = Tensor(uninitializedShape: w.shape, dtype: w.dtype), gradBias = Tensor(uninitializedShape: w.shape, dtype: w.dtype)
            x.dtype.dispatchFloat(BatchNormBackward(x: x, weight: w, mean: mean, variance: variance, grad: grad.detached().contiguous(),
                                                    gradInput: gradInput, gradWeight: gradWeight, gradBias: gradBias, eps: eps, g: geometry),
                                  operation: "batchNorm backward")
            return [ifTracked(self) { gradInput }, ifTracked(weight) { gradWeight }, ifTracked(bias) { gradBias }]
        }
        return (y, mean, variance)
    }

    /// The same normalization written with tensor operations.
    public func compositeBatchNorm(weight: Tensor, bias: Tensor, eps: Double) -> Tensor {
        let axes = [0] + Array(2..<rank), channel = [shape[1]] + Array(repeating: 1, count: rank - 2)
        let mean = self.mean(axes: axes, keepDim: true), variance = self.variance(axes: axes, correction: 0, keepDim: true)
        return (self - mean) * (variance + eps).rsqrt() * weight.reshaped(channel) + bias.reshaped(channel)
    }
}

/// x [N, C, L…] as N·C contiguous runs of L = H·W… values.
private struct ChannelGeometry: Sendable {
    let batch, channels, length: Int
    init(_ shape: [Int]) { (batch, channels, length) = (shape[0], shape[1], shape[2...].reduce(1, *)) }
    var count: Int { batch * length }
    /// The run of image n, channel c.
    func run(_ n: Int, _ c: Int) -> Int { (n * channels + c) * length }
}

private struct BatchNormForward: FloatKernel {
    let x: Tensor, weight: Tensor, bias: Tensor, out: Tensor, mean: Tensor, variance: Tensor, eps: Double, g: ChannelGeometry
    func run<T: FloatElement>(_: T.Type) {
        let p = UnsafeSendable((x.pointer(T.self), weight.pointer(T.self), bias.pointer(T.self), out.pointer(T.self),
                                mean.pointer(T.self), variance.pointer(T.self)))
        let (g, eps) = (self.g, T(self.eps))
        Parallel.forEach(g.channels, parallel: g.channels * g.count > 1 << 15) { c in
            let (x, weight, bias, out, mean, variance) = p.value
            var total = T.zero
            for n in 0..<g.batch { total += VectorRows.sum(x + g.run(n, c), g.length) }
            let mu = total / T(g.count)
            var squares = T.zero
            for n in 0..<g.batch {
                let row = x + g.run(n, c)
                var s = T.zero
                for i in 0..<g.length { s += (row[i] - mu) * (row[i] - mu) }
                squares += s
            }
            let sigma2 = squares / T(g.count)
            let invstd = 1 / (sigma2 + eps).squareRoot()
            let (gamma, beta) = (weight[c], bias[c])
            for n in 0..<g.batch {
                let (row, target) = (x + g.run(n, c), out + g.run(n, c))
                for i in 0..<g.length { target[i] = (row[i] - mu) * invstd * gamma + beta }
            }
            (mean[c], variance[c]) = (mu, sigma2)
        }
    }
}

private struct BatchNormBackward: FloatKernel {
    let x: Tensor, weight: Tensor, mean: Tensor, variance: Tensor, grad: Tensor
    let gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor, eps: Double, g: ChannelGeometry
    func run<T: FloatElement>(_: T.Type) {
        let p = UnsafeSendable((x.pointer(T.self), weight.pointer(T.self), mean.pointer(T.self), variance.pointer(T.self),
                                grad.pointer(T.self), gradInput.pointer(T.self), gradWeight.pointer(T.self), gradBias.pointer(T.self)))
        let (g, eps) = (self.g, T(self.eps))
        Parallel.forEach(g.channels, parallel: g.channels * g.count > 1 << 15) { c in
            let (x, weight, mean, variance, grad, gradInput, gradWeight, gradBias) = p.value
            let (mu, invstd) = (mean[c], 1 / (variance[c] + eps).squareRoot())
            var sumG = T.zero, sumGX = T.zero   // Σ g and Σ g·(x − μ)
            for n in 0..<g.batch {
                let (row, dy) = (x + g.run(n, c), grad + g.run(n, c))
                sumG += VectorRows.sum(dy, g.length)
                var s = T.zero
                for i in 0..<g.length { s += dy[i] * (row[i] - mu) }
                sumGX += s
            }
            let m = T(g.count)
            let sumGXhat = sumGX * invstd
            let (meanG, meanGXhat, scale) = (sumG / m, sumGXhat / m, weight[c] * invstd)
            for n in 0..<g.batch {
                let (row, dy, dx) = (x + g.run(n, c), grad + g.run(n, c), gradInput + g.run(n, c))
                for i in 0..<g.length { dx[i] = scale * (dy[i] - meanG - (row[i] - mu) * invstd * meanGXhat) }
            }
            (gradWeight[c], gradBias[c]) = (sumGXhat, sumG)
        }
    }
}
