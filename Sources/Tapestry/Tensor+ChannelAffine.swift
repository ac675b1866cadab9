/// y[n, c, …] = x[n, c, …]·scale[c] + shift[c] in one pass: a frozen (or evaluating)
/// batch normalization, which would otherwise be a broadcast multiply and a broadcast add,
/// each a full pass over the activations. Same operations in the same order as
/// `x * scale + shift`, so the same bits.

extension Tensor {
    /// x·scale + shift per channel (axis 1): x [N, C, …], scale and shift [C].
    public func channelAffine(scale: Tensor, shift: Tensor) -> Tensor {
        check(rank >= 2 && scale.shape == [shape[1]] && shift.shape == [shape[1]],
              "channelAffine: input [N, C, …] with scale and shift [C] expected; got \(shape), \(scale.shape), \(shift.shape)")
        check(dtype == scale.dtype && dtype == shift.dtype, "channelAffine: dtypes differ (\(dtype), \(scale.dtype), \(shift.dtype))")
        let x = detached().contiguous(), (a, b) = (scale.detached().contiguous(), shift.detached().contiguous())
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        struct Affine: FloatKernel {
            let x: Tensor, scale: Tensor, shift: Tensor, out: Tensor
            func run<T: FloatElement>(_: T.Type) {
                let channels = x.shape[1], length = x.shape[2...].reduce(1, *), rows = x.count / Swift.max(length, 1)
                let pointers = UnsafeSendable((x.pointer(T.self), scale.pointer(T.self), shift.pointer(T.self), out.pointer(T.self)))
                Parallel.forRanges(rows, minimumPerThread: Swift.max(1, (1 << 15) / Swift.max(length, 1)), alignment: 1) { rowRange in
                    let (x, scale, shift, out) = pointers.value
                    for r in rowRange {
                        let (a, b) = (scale[r % channels], shift[r % channels])
                        let (source, target) = (x + r * length, out + r * length)
                        for i in 0..<length { target[i] = source[i] * a + b }
                    }
                }
            }
        }
        dtype.dispatchFloat(Affine(x: x, scale: a, shift: b, out: out), operation: "channelAffine")
        let broadcast = [shape[1]] + Array(repeating: 1, count: rank - 2)
        return out.recorded("channelAffine", [self, scale, shift]) { g in
            [ifTracked(self) { g * scale.reshaped(broadcast) },
             ifTracked(scale) { (g * self).summed(toShape: broadcast).reshaped([broadcast[0]]) },
             ifTracked(shift) { g.summed(toShape: broadcast).reshaped([broadcast[0]]) }]
        }
    }
}
