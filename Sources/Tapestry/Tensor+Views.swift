/// Movement operations. Each returns a view sharing storage where the layout allows it
/// (reshape of a contiguous tensor, permute, slice, expand, squeeze, unsqueeze, flip), and
/// records the inverse movement as its derivative rule.

extension Tensor {
    /// A tensor over the same storage with another layout (no tape entry).
    func view(shape: [Int], strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
    }

    /// The same values laid out contiguously (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        out.assign(from: self)
        return out.recorded("contiguous", [self]) { g in [g] }
    }

    /// The same values with a new shape; one entry may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            check(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) elements")
            target[unknown] = count / known
        }
        check(target.allSatisfy { $0 >= 0 } && elementCount(target) == count,
                     "reshape: shape \(newShape) does not hold \(count) elements (shape \(shape))")
        if target == shape { return self }
        let source = contiguous()
        let original = shape
        return source.view(shape: target, strides: contiguousStrides(target), offset: source.offset)
            .recorded("reshape", [source]) { g in [g.reshaped(original)] }
    }

    /// Collapses axes `start...end` into one.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        guard rank > 0 else { return reshaped([1]) }
        let s = normalizeAxis(start, rank: rank), e = normalizeAxis(end, rank: rank)
        return reshaped(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// Reorders the axes: output axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        let axes = axes.map { normalizeAxis($0, rank: rank) }
        check(axes.count == rank && Set(axes).count == rank, "permute: \(axes) is not a permutation of \(rank) axes")
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return view(shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }, offset: offset)
            .recorded("permute", [self]) { g in [g.permuted(inverse)] }
    }

    /// Swaps two axes.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var axes = Array(0..<rank)
        axes.swapAt(normalizeAxis(a, rank: rank), normalizeAxis(b, rank: rank))
        return permuted(axes)
    }

    /// Swaps the last two axes (the matrix transpose).
    public func transposed() -> Tensor {
        check(rank >= 2, "transposed(): needs at least 2 axes, shape is \(shape)")
        return transposed(-2, -1)
    }

    /// Elements `start..<end` (step `step`) along `axis`; negative bounds count from the end.
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let axis = normalizeAxis(axis, rank: rank)
        let size = shape[axis]
        func clampBound(_ b: Int) -> Int { Swift.min(Swift.max(b < 0 ? b + size : b, 0), size) }
        let s = clampBound(start), e = Swift.max(s, clampBound(end ?? size))
        var starts = [Int](repeating: 0, count: rank), steps = [Int](repeating: 1, count: rank), sizes = shape
        starts[axis] = s; steps[axis] = step; sizes[axis] = (e - s + step - 1) / step
        return region(starts: starts, steps: steps, sizes: sizes)
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed.
    public func select(axis: Int, index: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let i = index < 0 ? index + shape[a] : index
        check(i >= 0 && i < shape[a], "select: index \(index) out of range for axis \(a) of size \(shape[a])")
        return slice(axis: a, start: i, end: i + 1).squeezed(axis: a)
    }

    /// A strided box: along each axis, `sizes[i]` elements from `starts[i]` every `steps[i]`.
    func region(starts: [Int], steps: [Int], sizes: [Int]) -> Tensor {
        check(steps.allSatisfy { $0 > 0 }, "slice: step must be positive")
        for i in 0..<rank {
            check(sizes[i] == 0 || (starts[i] >= 0 && starts[i] + (sizes[i] - 1) * steps[i] < shape[i]),
                         "slice: region out of range on axis \(i) of shape \(shape)")
        }
        if starts.allSatisfy({ $0 == 0 }) && steps.allSatisfy({ $0 == 1 }) && sizes == shape { return self }
        var start = offset
        for i in 0..<rank where sizes[i] > 0 { start += starts[i] * strides[i] }
        let original = shape
        return view(shape: sizes, strides: zip(strides, steps).map(*), offset: start)
            .recorded("slice", [self]) { g in [g.placed(in: original, starts: starts, steps: steps, fill: 0)] }
    }

    /// A tensor of `outerShape` filled with `fill`, with `self` written into the region
    /// `starts`/`steps` (the inverse of `region`). Used by pad and by slice's derivative.
    func placed(in outerShape: [Int], starts: [Int], steps: [Int], fill: Double) -> Tensor {
        let out = Tensor.full(outerShape, value: fill, dtype: dtype)
        var start = 0
        for i in 0..<rank where shape[i] > 0 { start += starts[i] * out.strides[i] }
        let target = out.view(shape: shape, strides: zip(out.strides, steps).map(*), offset: start)
        target.assign(from: self)
        let sizes = shape
        return out.recorded("place", [self]) { g in [g.region(starts: starts, steps: steps, sizes: sizes)] }
    }

    /// Writes `source` (same shape) into this tensor's elements, in place, bypassing the
    /// tape. Only for freshly created outputs.
    func assign(from source: Tensor) {
        check(source.shape == shape && source.dtype == dtype, "assign: \(source.shape) \(source.dtype) into \(shape) \(dtype)")
        struct Copy: ElementKernel {
            let source: Tensor, target: Tensor
            func run<T: TensorElement>(_: T.Type) {
                backend.copy(source.operand(T.self), to: target.pointer(T.self), dstStrides: target.strides, shape: target.shape)
            }
        }
        dtype.dispatch(Copy(source: source, target: self))
    }

    /// Repeats size-1 axes (and adds leading ones) to reach `newShape`, without copying.
    public func expanded(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        check(newShape.count >= rank && broadcastShapes([shape, newShape]) == newShape,
                     "expand: cannot expand shape \(shape) to \(newShape)")
        let original = shape
        return view(shape: newShape, strides: broadcastStrides(shape: shape, strides: strides, to: newShape), offset: offset)
            .recorded("expand", [self]) { g in [g.summed(toShape: original)] }
    }

    /// Removes size-1 axes (all of them, or just `axis`).
    public func squeezed(axis: Int? = nil) -> Tensor {
        var keep = Array(0..<rank).filter { shape[$0] != 1 }
        if let axis {
            let a = normalizeAxis(axis, rank: rank)
            keep = Array(0..<rank).filter { $0 != a || shape[$0] != 1 }
        }
        if keep.count == rank { return self }
        let original = shape
        return view(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: offset)
            .recorded("squeeze", [self]) { g in [g.reshaped(original)] }
    }

    /// Inserts a size-1 axis at `axis` (which may be `rank`).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        check(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for rank \(rank)")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: a)
        newStrides.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        let original = shape
        return view(shape: newShape, strides: newStrides, offset: offset)
            .recorded("unsqueeze", [self]) { g in [g.reshaped(original)] }
    }

    /// Reverses the order of elements along `axes`.
    public func flipped(axes: [Int]) -> Tensor {
        let axes = axes.map { normalizeAxis($0, rank: rank) }
        var newStrides = strides, start = offset
        for a in Set(axes) where shape[a] > 0 {
            start += (shape[a] - 1) * strides[a]
            newStrides[a] = -strides[a]
        }
        return view(shape: shape, strides: newStrides, offset: start)
            .recorded("flip", [self]) { g in [g.flipped(axes: axes)] }
    }

    /// This tensor read as `shape` by broadcasting (stride 0 on repeated axes).
    func operand<T>(_: T.Type, broadcastTo target: [Int]? = nil) -> StridedOperand<T> {
        let s = target.map { $0 == shape ? strides : broadcastStrides(shape: shape, strides: strides, to: $0) } ?? strides
        return StridedOperand(base: UnsafePointer(pointer(T.self)), strides: s)
    }
}

