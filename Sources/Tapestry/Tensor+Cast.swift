/// Conversion between dtypes. Between Float32 and Float64 the gradient flows back converted.

extension Tensor {
    /// The values converted to `target` (truncating toward zero for integer targets).
    public func cast(to target: DType) -> Tensor {
        if target == dtype { return self }
        let out = Tensor(uninitializedShape: shape, dtype: target)
        dtype.dispatch(CastFrom(source: self, out: out))
        guard dtype.isFloatingPoint && target.isFloatingPoint else { return out }
        let original = dtype
        return out.recorded("cast", [self]) { g in [g.cast(to: original)] }
    }
}

/// Dispatches on the source element type, then on the destination's.
private struct CastFrom: ElementKernel {
    let source: Tensor, out: Tensor
    func run<S: TensorElement>(_: S.Type) {
        out.dtype.dispatch(CastInto(source: source.operand(S.self), out: out))
    }
}

private struct CastInto<S: TensorElement>: ElementKernel {
    let source: StridedOperand<S>, out: Tensor
    func run<D: TensorElement>(_: D.Type) { backend.cast(source, to: out.pointer(D.self), shape: out.shape) }
}
