/// Indexing and assembling: gather, index-select, scatter-add, concatenation, stacking,
/// splitting, padding, sorting and top-k.

extension Tensor {
    /// Sizes of the axes before and after `axis`, for the [outer, axis, inner] kernels.
    func outerInner(_ axis: Int) -> (outer: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[(axis + 1)...].reduce(1, *))
    }

    /// out[..., j, ...] = self[..., index[..., j, ...], ...] along `axis` (`torch.gather`).
    /// `index` (Int64) has this tensor's rank; its sizes on other axes may be smaller.
    public func gather(axis: Int, index: Tensor) -> Tensor {
        check(index.dtype == .int64, "gather: index must be int64, got \(index.dtype)")
        check(index.rank == rank, "gather: index rank \(index.rank) differs from input rank \(rank)")
        let a = normalizeAxis(axis, rank: rank)
        var sizes = index.shape
        sizes[a] = shape[a]
        for i in 0..<rank where i != a {
            check(index.shape[i] <= shape[i], "gather: index shape \(index.shape) exceeds input shape \(shape) on axis \(i)")
        }
        let source = region(starts: Array(repeating: 0, count: rank), steps: Array(repeating: 1, count: rank), sizes: sizes)
        let x = source.detached().contiguous(), idx = index.contiguous()
        let out = Tensor(uninitializedShape: index.shape, dtype: dtype)
        let (outer, inner) = idx.outerInner(a)
        struct Gather: ElementKernel {
            let x: Tensor, index: Tensor, out: Tensor, axisSize: Int, outer: Int, indexAxisSize: Int, inner: Int
            func run<T: TensorElement>(_: T.Type) {
                backend.gather(x.pointer(T.self), axisSize: axisSize, index.pointer(Int64.self), out.pointer(T.self),
                               outer: outer, indexAxisSize: indexAxisSize, inner: inner)
            }
        }
        dtype.dispatch(Gather(x: x, index: idx, out: out, axisSize: shape[a], outer: outer, indexAxisSize: index.shape[a], inner: inner))
        let sourceShape = source.shape
        return out.recorded("gather", [source]) { g in
            [Tensor.zeros(sourceShape, dtype: g.dtype).scatterAdd(axis: a, index: idx, source: g)]
        }
    }

    /// self plus `source` added at positions `index` along `axis` (`torch.scatter_add`).
    /// `index` and `source` have the same shape, equal to self's except along `axis`.
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        check(index.dtype == .int64, "scatterAdd: index must be int64, got \(index.dtype)")
        check(index.shape == source.shape, "scatterAdd: index shape \(index.shape) differs from source shape \(source.shape)")
        check(source.dtype == dtype, "scatterAdd: source is \(source.dtype), self is \(dtype)")
        let a = normalizeAxis(axis, rank: rank)
        for i in 0..<rank where i != a {
            check(index.shape[i] == shape[i], "scatterAdd: index shape \(index.shape) and self shape \(shape) differ on axis \(i)")
        }
        let out = detached().contiguous().copied()
        let idx = index.contiguous(), src = source.detached().contiguous()
        let (outer, inner) = idx.outerInner(a)
        struct Scatter: ElementKernel {
            let out: Tensor, index: Tensor, source: Tensor, axisSize: Int, outer: Int, indexAxisSize: Int, inner: Int
            func run<T: TensorElement>(_: T.Type) {
                backend.scatterAdd(into: out.pointer(T.self), axisSize: axisSize, index.pointer(Int64.self), source.pointer(T.self),
                                   outer: outer, indexAxisSize: indexAxisSize, inner: inner)
            }
        }
        dtype.dispatch(Scatter(out: out, index: idx, source: src, axisSize: shape[a], outer: outer, indexAxisSize: index.shape[a], inner: inner))
        return out.recorded("scatterAdd", [self, source]) { g in [g, g.gather(axis: a, index: idx)] }
    }

    /// A fresh copy that shares nothing with self.
    func copied() -> Tensor {
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        out.assign(from: self)
        return out
    }

    /// The entries at `index` (a 1-D Int64 tensor) along `axis` (`torch.index_select`).
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        check(index.rank == 1 && index.dtype == .int64, "indexSelect: index must be a 1-D int64 tensor")
        let a = normalizeAxis(axis, rank: rank)
        var outShape = shape
        outShape[a] = index.count
        var indexShape = Array(repeating: 1, count: rank)
        indexShape[a] = index.count
        return gather(axis: a, index: index.reshaped(indexShape).expanded(to: outShape))
    }

    /// Joins tensors of equal shape (except along `axis`) end to end along `axis`.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        check(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = normalizeAxis(axis, rank: first.rank)
        var outShape = first.shape
        outShape[a] = 0
        for t in tensors {
            check(t.rank == first.rank && t.dtype == first.dtype, "concat: all tensors need rank \(first.rank) and dtype \(first.dtype)")
            for i in 0..<t.rank where i != a {
                check(t.shape[i] == first.shape[i], "concat: shapes \(first.shape) and \(t.shape) differ off axis \(a)")
            }
            outShape[a] += t.shape[a]
        }
        let out = Tensor(uninitializedShape: outShape, dtype: first.dtype)
        var starts: [Int] = []
        var position = 0
        for t in tensors {
            starts.append(position)
            var start = 0
            if t.shape[a] > 0 { start = position * out.strides[a] }
            out.view(shape: t.shape, strides: out.strides, offset: start).assign(from: t)
            position += t.shape[a]
        }
        return out.recorded("concat", tensors) { g in
            zip(tensors, starts).map { t, s in g.slice(axis: a, start: s, end: s + t.shape[a]) }
        }
    }

    /// Stacks tensors of equal shape along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Splits along `axis` into pieces of the given sizes (views).
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank)
        check(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to \(shape[a])")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: a, start: start, end: start + size)
        }
    }

    /// Pads with `value`: `widths[i]` = (before, after) for the last `widths.count` axes,
    /// first entry for the first of those axes.
    public func padded(_ widths: [(before: Int, after: Int)], value: Double = 0) -> Tensor {
        check(widths.count <= rank, "pad: \(widths.count) axes of padding for rank \(rank)")
        check(widths.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "pad: widths must not be negative")
        let lead = rank - widths.count
        var outShape = shape, starts = Array(repeating: 0, count: rank)
        for (i, w) in widths.enumerated() {
            outShape[lead + i] += w.before + w.after
            starts[lead + i] = w.before
        }
        return placed(in: outShape, starts: starts, steps: Array(repeating: 1, count: rank), fill: value)
    }

    /// Indices that sort each run along `axis` (stable; NaN sorts as largest).
    public func argsort(axis: Int = -1, descending: Bool = false) -> Tensor {
        struct Argsort: ElementKernel {
            let input: Tensor, out: Tensor, rows: Int, length: Int, descending: Bool
            func run<T: TensorElement>(_: T.Type) {
                backend.argsortRows(input.pointer(T.self), rows: rows, length: length, descending: descending, out.pointer(Int64.self))
            }
        }
        let a = normalizeAxis(axis, rank: rank)
        let moved = detached().transposed(a, rank - 1).contiguous()
        let out = Tensor(uninitializedShape: moved.shape, dtype: .int64)
        dtype.dispatch(Argsort(input: moved, out: out, rows: moved.count / Swift.max(shape[a], 1), length: shape[a], descending: descending))
        return out.transposed(a, rank - 1).contiguous()
    }

    /// Sorted values and their original indices along `axis`.
    public func sorted(axis: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        let indices = argsort(axis: axis, descending: descending)
        return (gather(axis: axis, index: indices), indices)
    }

    /// The `k` largest (or smallest) entries along `axis`, sorted, with their indices.
    public func topk(_ k: Int, axis: Int = -1, largest: Bool = true) -> (values: Tensor, indices: Tensor) {
        let a = normalizeAxis(axis, rank: rank)
        check(k >= 0 && k <= shape[a], "topk: k = \(k) out of range for an axis of size \(shape[a])")
        let indices = argsort(axis: a, descending: largest).slice(axis: a, start: 0, end: k).contiguous()
        return (gather(axis: a, index: indices), indices)
    }
}
