import Tapestry

/// Batch normalization over (N, H, W) per channel (Ioffe & Szegedy, 2015; `nn.BatchNorm2d`):
/// y = (x − μ)/√(σ² + ε)·weight + bias. Training mode uses the batch mean and biased
/// variance and updates running_mean ← (1 − m)·running_mean + m·μ and
/// running_var ← (1 − m)·running_var + m·σ²·n/(n − 1); evaluation mode uses the running
/// statistics.
public final class BatchNorm2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer
    public let runningVar: Buffer
    public let numBatchesTracked: Buffer
    public let eps: Double
    public let momentum: Double

    public init(_ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        runningMean = Buffer(Tensor.zeros([channels]))
        runningVar = Buffer(Tensor.ones([channels]))
        numBatchesTracked = Buffer(Tensor.zeros([], dtype: .int64))
        (self.eps, self.momentum) = (eps, momentum)
    }

    override public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 4 && input.shape[1] == weight.shape[0], "BatchNorm2d(\(weight.shape[0])): input must be [N, \(weight.shape[0]), H, W], got \(input.shape)")
        guard training else {
            // Evaluation: the running statistics, one per-channel affine map.
            let scale = weight.value * (runningVar.value + eps).rsqrt()
            return input.channelAffine(scale: scale, shift: bias.value - runningMean.value * scale)
        }
        let (output, mean, variance) = input.batchNormTraining(weight: weight.value, bias: bias.value, eps: eps)
        let n = Double(input.count / input.shape[1])
        noGrad {
            runningMean.value = runningMean.value * (1 - momentum) + mean * momentum
            runningVar.value = runningVar.value * (1 - momentum) + variance * (momentum * n / Swift.max(n - 1, 1))
            numBatchesTracked.value = numBatchesTracked.value + Tensor(scalar: 1, dtype: .int64)
        }
        return output
    }
}

/// DETR's FrozenBatchNorm2d (Carion et al., "End-to-End Object Detection with Transformers",
/// ECCV 2020; detr/models/backbone.py): batch norm (Ioffe & Szegedy, ICML 2015) with fixed statistics and
/// affine terms, all four buffers: y = x·s + (bias − running_mean·s), s = weight/√(running_var + 1e-5).
/// A `num_batches_tracked` entry in a checkpoint is accepted and dropped.
public final class FrozenBatchNorm2d: Layer {
    public let weight: Buffer
    public let bias: Buffer
    public let runningMean: Buffer
    public let runningVar: Buffer

    public init(_ channels: Int) {
        weight = Buffer(Tensor.ones([channels]))
        bias = Buffer(Tensor.zeros([channels]))
        runningMean = Buffer(Tensor.zeros([channels]))
        runningVar = Buffer(Tensor.ones([channels]))
    }

    override public var ignoredStateKeys: Set<String> { ["num_batches_tracked"] }

    override public func forward(_ input: Tensor) -> Tensor {
        let scale = weight.value * (runningVar.value + 1e-5).rsqrt()
        let shift = bias.value - runningMean.value * scale
        return input.channelAffine(scale: scale, shift: shift)
    }
}
