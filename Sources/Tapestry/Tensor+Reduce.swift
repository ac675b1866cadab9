/// Reductions over any set of axes (sum, mean, max, min, variance), arg-reductions,
/// cumulative sums, and the broadcasting adjoint `summed(toShape:)`.

extension Tensor {
    /// Normalized, sorted, de-duplicated axes; nil means all axes.
    func reductionAxes(_ axes: [Int]?) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { normalizeAxis($0, rank: rank) })).sorted()
    }

    /// Shape with the reduced axes set to 1 (keepDim) or removed.
    func reducedShape(_ axes: [Int], keepDim: Bool) -> [Int] {
        keepDim ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Moves `axes` last and makes the result contiguous, so each reduction is one row.
    func rowsForReduction(_ axes: [Int]) -> (tensor: Tensor, rows: Int, length: Int) {
        let kept = (0..<rank).filter { !axes.contains($0) }
        let arranged = detached().permuted(kept + axes).contiguous()
        let length = axes.map { shape[$0] }.reduce(1, *)
        return (arranged, length == 0 ? kept.map { shape[$0] }.reduce(1, *) : arranged.count / Swift.max(length, 1), length)
    }

    func reduce(_ op: ReduceOp, axes: [Int], keepDim: Bool) -> Tensor {
        if op == .sum && !(isContiguous && axes == Array((rank - axes.count)..<rank)) {
            return accumulatedSum(axes: axes, keepDim: keepDim)
        }
        struct Reduce: ElementKernel {
            let op: ReduceOp, input: Tensor, out: Tensor, rows: Int, length: Int
            func run<T: TensorElement>(_: T.Type) {
                backend.reduceRows(op, input.pointer(T.self), rows: rows, length: length, out.pointer(T.self))
            }
        }
        let (input, rows, length) = rowsForReduction(axes)
        let out = Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: dtype)
        dtype.dispatch(Reduce(op: op, input: input, out: out, rows: rows, length: length))
        return out
    }

    /// Sum over axes that are not the trailing axes of a contiguous tensor (a bias's
    /// gradient: [N, C, H, W] → [C]), accumulated in place without moving them last first.
    private func accumulatedSum(axes: [Int], keepDim: Bool) -> Tensor {
        struct Accumulate: ElementKernel {
            let input: Tensor, out: Tensor, outStrides: [Int]
            func run<T: TensorElement>(_: T.Type) {
                backend.accumulateSum(input.operand(T.self), into: out.pointer(T.self), outStrides: outStrides, shape: input.shape)
            }
        }
        let kept = reducedShape(axes, keepDim: true)
        let out = Tensor.zeros(kept, dtype: dtype)
        let outStrides = zip(contiguousStrides(kept), kept).map { stride, size in size == 1 ? 0 : stride }
        dtype.dispatch(Accumulate(input: detached(), out: out, outStrides: outStrides))
        return keepDim ? out : out.reshaped(reducedShape(axes, keepDim: false))
    }

    /// Sum over `axes` (all axes when nil).
    public func sum(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let axes = reductionAxes(axes)
        let kept = reducedShape(axes, keepDim: true), original = shape
        return reduce(.sum, axes: axes, keepDim: keepDim).recorded("sum", [self]) { g in
            [g.reshaped(kept).expanded(to: original)]
        }
    }
    public func sum(axis: Int, keepDim: Bool = false) -> Tensor { sum(axes: [axis], keepDim: keepDim) }

    /// Mean over `axes` (all axes when nil).
    public func mean(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let axes = reductionAxes(axes)
        let n = axes.map { shape[$0] }.reduce(1, *)
        return sum(axes: axes, keepDim: keepDim) / Double(n)
    }
    public func mean(axis: Int, keepDim: Bool = false) -> Tensor { mean(axes: [axis], keepDim: keepDim) }

    /// Maximum over `axes`; the gradient is shared evenly among tied maxima.
    public func max(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor { extremum(.max, axes: axes, keepDim: keepDim) }
    public func max(axis: Int, keepDim: Bool = false) -> Tensor { max(axes: [axis], keepDim: keepDim) }
    /// Minimum over `axes`; the gradient is shared evenly among tied minima.
    public func min(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor { extremum(.min, axes: axes, keepDim: keepDim) }
    public func min(axis: Int, keepDim: Bool = false) -> Tensor { min(axes: [axis], keepDim: keepDim) }

    private func extremum(_ op: ReduceOp, axes: [Int]?, keepDim: Bool) -> Tensor {
        let axes = reductionAxes(axes)
        let kept = reducedShape(axes, keepDim: true)
        let y = reduce(op, axes: axes, keepDim: keepDim)
        return y.recorded(op == .max ? "max" : "min", [self]) { g in
            let hits = (self .== y.reshaped(kept)).cast(to: g.dtype)
            return [g.reshaped(kept) * hits / hits.sum(axes: axes, keepDim: true)]
        }
    }

    /// Index of the first maximum along `axis` (Int64).
    public func argmax(axis: Int, keepDim: Bool = false) -> Tensor { argReduce(max: true, axis: axis, keepDim: keepDim) }
    /// Index of the first minimum along `axis` (Int64).
    public func argmin(axis: Int, keepDim: Bool = false) -> Tensor { argReduce(max: false, axis: axis, keepDim: keepDim) }

    private func argReduce(max: Bool, axis: Int, keepDim: Bool) -> Tensor {
        struct ArgReduce: ElementKernel {
            let max: Bool, input: Tensor, out: Tensor, rows: Int, length: Int
            func run<T: TensorElement>(_: T.Type) {
                backend.argReduceRows(max: max, input.pointer(T.self), rows: rows, length: length, out.pointer(Int64.self))
            }
        }
        let axes = [normalizeAxis(axis, rank: rank)]
        let (input, rows, length) = rowsForReduction(axes)
        let out = Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: .int64)
        dtype.dispatch(ArgReduce(max: max, input: input, out: out, rows: rows, length: length))
        return out
    }

    /// Variance over `axes` with Bessel's `correction` (1 = unbiased, PyTorch's default; 0 = biased).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        let axes = reductionAxes(axes)
        let n = axes.map { shape[$0] }.reduce(1, *)
        let centered = self - mean(axes: axes, keepDim: true)
        return (centered * centered).sum(axes: axes, keepDim: keepDim) / Double(Swift.max(n - correction, 0))
    }

    /// Inclusive cumulative sum along `axis`.
    public func cumsum(axis: Int) -> Tensor {
        struct Cumsum: ElementKernel {
            let input: Tensor, out: Tensor, rows: Int, length: Int
            func run<T: TensorElement>(_: T.Type) {
                backend.cumsumRows(input.pointer(T.self), rows: rows, length: length, out.pointer(T.self))
            }
        }
        let a = normalizeAxis(axis, rank: rank)
        let moved = detached().transposed(a, rank - 1).contiguous()
        let out = Tensor(uninitializedShape: moved.shape, dtype: dtype)
        dtype.dispatch(Cumsum(input: moved, out: out, rows: moved.count / Swift.max(shape[a], 1), length: shape[a]))
        return out.transposed(a, rank - 1).contiguous().recorded("cumsum", [self]) { g in
            [g.flipped(axes: [a]).cumsum(axis: a).flipped(axes: [a])]
        }
    }

    /// Sums broadcast axes away so the result has `target` shape: the adjoint of broadcasting.
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let pad = rank - target.count
        check(pad >= 0, "summed(toShape:): cannot reduce \(shape) to \(target)")
        var axes = Array(0..<pad)
        for (i, size) in target.enumerated() where size == 1 && shape[pad + i] != 1 { axes.append(pad + i) }
        return sum(axes: axes, keepDim: true).reshaped(target)
    }
}
