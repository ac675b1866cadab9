/// Reference indexing kernels: gather, scatter-add, and the im2col/col2im pair behind
/// convolution, pooling and unfold.

extension Backend {
    public func gather<T: TensorElement>(_ x: UnsafePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>,
                                         _ out: UnsafeMutablePointer<T>, outer: Int, indexAxisSize: Int, inner: Int) {
        for o in 0..<outer {
            for j in 0..<indexAxisSize {
                let row = (o &* indexAxisSize &+ j) &* inner
                for i in 0..<inner {
                    let k = Int(index[row &+ i])
                    check(k >= 0 && k < axisSize, "gather: index \(k) out of range for an axis of size \(axisSize)")
                    out[row &+ i] = x[(o &* axisSize &+ k) &* inner &+ i]
                }
            }
        }
    }

    public func scatterAdd<T: TensorElement>(into: UnsafeMutablePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>,
                                             _ src: UnsafePointer<T>, outer: Int, indexAxisSize: Int, inner: Int) {
        for o in 0..<outer {
            for j in 0..<indexAxisSize {
                let row = (o &* indexAxisSize &+ j) &* inner
                for i in 0..<inner {
                    let k = Int(index[row &+ i])
                    check(k >= 0 && k < axisSize, "scatterAdd: index \(k) out of range for an axis of size \(axisSize)")
                    into[(o &* axisSize &+ k) &* inner &+ i] += src[row &+ i]
                }
            }
        }
    }

    public func im2col<T: FloatElement>(_ x: UnsafePointer<T>, _ cols: UnsafeMutablePointer<T>, _ g: PatchGeometry, rowStride: Int) {
        let image = UnsafeSendable(x), out = UnsafeSendable(cols)
        let patchRows = g.kernel.h * g.kernel.w, length = g.outHeight * g.outWidth
        check(rowStride == length || (g.batch == 1 && rowStride > length), "im2col: row stride \(rowStride) for rows of \(length) in a batch of \(g.batch)")
        Parallel.forEach(g.batch * g.channels, parallel: g.batch * g.channels * patchRows * length > 1 << 16) { plane in
            let source = image.value + plane * g.height * g.width
            var row = out.value + plane * patchRows * rowStride
            for ki in 0..<g.kernel.h {
                for kj in 0..<g.kernel.w {
                    forEachOutputRow(g, ki: ki, kj: kj) { oy, y, inside in
                        let dst = row + oy * g.outWidth
                        guard let y else { dst.initialize(repeating: 0, count: g.outWidth); return }
                        let src = source + y * g.width - g.padding.w + kj * g.dilation.w
                        for ox in 0..<inside.lowerBound { dst[ox] = 0 }
                        if g.stride.w == 1 {
                            dst.advanced(by: inside.lowerBound).update(from: src + inside.lowerBound, count: inside.count)
                        } else {
                            for ox in inside { dst[ox] = src[ox * g.stride.w] }
                        }
                        for ox in inside.upperBound..<g.outWidth { dst[ox] = 0 }
                    }
                    row += rowStride
                }
            }
        }
    }

    public func col2im<T: FloatElement>(_ cols: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>, _ g: PatchGeometry, rowStride: Int) {
        let image = UnsafeSendable(x), input = UnsafeSendable(cols)
        let patchRows = g.kernel.h * g.kernel.w, length = g.outHeight * g.outWidth
        check(rowStride == length || (g.batch == 1 && rowStride > length), "col2im: row stride \(rowStride) for rows of \(length) in a batch of \(g.batch)")
        Parallel.forEach(g.batch * g.channels, parallel: g.batch * g.channels * patchRows * length > 1 << 16) { plane in
            let target = image.value + plane * g.height * g.width
            target.initialize(repeating: 0, count: g.height * g.width)
            var row = input.value + plane * patchRows * rowStride
            for ki in 0..<g.kernel.h {
                for kj in 0..<g.kernel.w {
                    forEachOutputRow(g, ki: ki, kj: kj) { oy, y, inside in
                        guard let y else { return }
                        let src = row + oy * g.outWidth
                        let dst = target + y * g.width - g.padding.w + kj * g.dilation.w
                        if g.stride.w == 1 {
                            let (d, s) = (dst + inside.lowerBound, src + inside.lowerBound)
                            for i in 0..<inside.count { d[i] += s[i] }
                        } else {
                            for ox in inside { dst[ox * g.stride.w] += src[ox] }
                        }
                    }
                    row += rowStride
                }
            }
        }
    }
}

/// For kernel offset (ki, kj), calls `body(oy, y, inside)` for every output row: `y` is
/// the input row it reads (nil in the padding) and `inside` the output columns whose input
/// column x = ox·s − p + kj·d lies within the image.
@inline(__always)
func forEachOutputRow(_ g: PatchGeometry, ki: Int, kj: Int, _ body: (Int, Int?, Range<Int>) -> Void) {
    let inside = g.insideColumns(kj: kj)
    for oy in 0..<g.outHeight {
        let y = oy * g.stride.h - g.padding.h + ki * g.dilation.h
        body(oy, y >= 0 && y < g.height ? y : nil, inside)
    }
}
