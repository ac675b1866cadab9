/// Sliding windows over images: unfold (im2col) and fold (col2im) as differentiable ops of
/// their own, and pooling built on them (convolution: Tensor+Conv2d.swift).

extension Tensor {
    func patchGeometry(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                       _ op: StaticString = #function) -> PatchGeometry {
        check(rank == 4, "\(op): input must be [N, C, H, W], got \(shape)")
        check(kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0
                     && padding.0 >= 0 && padding.1 >= 0, "\(op): kernel, stride and dilation must be positive, padding non-negative")
        let g = PatchGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
                              kernel: (h: kernel.0, w: kernel.1), stride: (h: stride.0, w: stride.1),
                              padding: (h: padding.0, w: padding.1), dilation: (h: dilation.0, w: dilation.1))
        check(g.outHeight > 0 && g.outWidth > 0, "\(op): a \(kernel) window does not fit input \(shape) with padding \(padding)")
        return g
    }

    /// Extracts sliding patches: [N, C, H, W] → [N, C·kh·kw, L] with L = oh·ow (`F.unfold`).
    public func unfold(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1)) -> Tensor {
        let g = patchGeometry(kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        struct Im2col: FloatKernel {
            let x: Tensor, cols: Tensor, g: PatchGeometry
            func run<T: FloatElement>(_: T.Type) { backend.im2col(x.pointer(T.self), cols.pointer(T.self), g, rowStride: g.length, imageStride: g.patchRows * g.length) }
        }
        let cols = Tensor(uninitializedShape: [g.batch, g.patchRows, g.length], dtype: dtype)
        dtype.dispatchFloat(Im2col(x: detached().contiguous(), cols: cols, g: g), operation: "unfold")
        return cols.recorded("unfold", [self]) { grad in [grad.fold(g)] }
    }

    /// Sums patches back into an image: the adjoint of `unfold` (`F.fold`).
    func fold(_ g: PatchGeometry) -> Tensor {
        struct Col2im: FloatKernel {
            let cols: Tensor, x: Tensor, g: PatchGeometry
            func run<T: FloatElement>(_: T.Type) { backend.col2im(cols.pointer(T.self), x.pointer(T.self), g, rowStride: g.length, imageStride: g.patchRows * g.length) }
        }
        let x = Tensor(uninitializedShape: [g.batch, g.channels, g.height, g.width], dtype: dtype)
        dtype.dispatchFloat(Col2im(cols: detached().contiguous(), x: x, g: g), operation: "fold")
        return x.recorded("fold", [self]) { grad in [grad.unfold(kernel: (g.kernel.h, g.kernel.w), stride: (g.stride.h, g.stride.w),
                                                                   padding: (g.padding.h, g.padding.w), dilation: (g.dilation.h, g.dilation.w))] }
    }

    /// Max pooling (`F.max_pool2d`): padded cells count as −∞; the gradient goes to the
    /// first maximum of each window (a NaN counts as the maximum, as in PyTorch). Each
    /// window's first maximum is found by a scan of the image in place; the output is a
    /// gather at those positions, so its gradient is the gather's scatter.
    ///
    /// A Float plane without NaN is scanned a row of windows at once, eight windows to a vector:
    /// for each tap t in window order, over the output columns whose tap lies inside the
    /// image, a window takes t where its value is strictly larger than its maximum so far
    /// (starting from −∞ at its first tap inside the image, which a window of −∞ keeps). That
    /// is the first maximum a scan of the window alone finds, without a branch per
    /// comparison. Other planes are scanned window by window.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          dilation: (Int, Int) = (1, 1)) -> Tensor {
        let stride = stride ?? kernel
        check(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "maxPool2d: padding must be at most half the kernel")
        let g = patchGeometry(kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        struct WindowMaxima: FloatKernel {
            let x: Tensor, indices: Tensor, g: PatchGeometry
            func run<T: FloatElement>(_: T.Type) {
                let pointers = UnsafeSendable((x.pointer(T.self), indices.pointer(Int64.self)))
                let (g, plane) = (self.g, g.height * g.width)
                Parallel.forEach(g.batch * g.channels, parallel: g.batch * g.channels * g.outHeight * g.outWidth > 1 << 14) { p in
                    let (image, indices) = (pointers.value.0 + p * plane, pointers.value.1 + p * g.outHeight * g.outWidth)
                    if T.self == Float.self && !UnsafeBufferPointer(start: image, count: plane).contains(where: \.isNaN) {
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * g.outWidth) { scratch in
                            scanRows(UnsafeRawPointer(image).assumingMemoryBound(to: Float.self), indices, maxima: scratch.baseAddress!,
                                     taps: scratch.baseAddress! + g.outWidth)
                        }
                    } else {
                        scanWindows(image, indices)
                    }
                }
            }

            /// The first tap inside the image of window o along an axis (k = 0 unless the window
            /// starts in the padding).
            func firstTap(_ o: Int, stride: Int, padding: Int, dilation: Int) -> Int {
                let start = o * stride - padding
                return start >= 0 ? 0 : (-start + dilation - 1) / dilation
            }

            /// Float planes without NaN (SIMD8<Float>'s comparisons and selections compile to
            /// vector instructions; a generic SIMD8<T>'s go lane by lane).
            func scanRows(_ image: UnsafePointer<Float>, _ indices: UnsafeMutablePointer<Int64>,
                          maxima: UnsafeMutablePointer<Float>, taps: UnsafeMutablePointer<Float>) {
                let (kw, sw) = (g.kernel.w, g.stride.w)
                for oy in 0..<g.outHeight {
                    let firstRow = firstTap(oy, stride: g.stride.h, padding: g.padding.h, dilation: g.dilation.h)
                    for ox in 0..<g.outWidth {
                        taps[ox] = Float(firstRow * kw + firstTap(ox, stride: sw, padding: g.padding.w, dilation: g.dilation.w))
                    }
                    maxima.initialize(repeating: -.infinity, count: g.outWidth)
                    for ki in 0..<g.kernel.h {
                        let y = oy * g.stride.h - g.padding.h + ki * g.dilation.h
                        guard y >= 0 && y < g.height else { continue }
                        for kj in 0..<kw {
                            let inside = g.insideColumns(kj: kj)
                            let row = image + y * g.width + kj * g.dilation.w - g.padding.w, tap = Float(ki * kw + kj)
                            var ox = inside.lowerBound
                            while ox + 8 <= inside.upperBound {
                                let at = row + ox * sw
                                let values = SIMD8<Float>(at[0], at[sw], at[2 * sw], at[3 * sw], at[4 * sw], at[5 * sw], at[6 * sw], at[7 * sw])
                                var maximum = VectorRows.load(UnsafePointer(maxima + ox)), best = VectorRows.load(UnsafePointer(taps + ox))
                                let larger = values .> maximum
                                maximum.replace(with: values, where: larger)
                                best.replace(with: tap, where: larger)
                                VectorRows.store(maximum, maxima + ox)
                                VectorRows.store(best, taps + ox)
                                ox += 8
                            }
                            for ox in ox..<inside.upperBound where row[ox * sw] > maxima[ox] { (maxima[ox], taps[ox]) = (row[ox * sw], tap) }
                        }
                    }
                    for ox in 0..<g.outWidth {
                        let (ki, kj) = Int(taps[ox]).quotientAndRemainder(dividingBy: kw)
                        let y = oy * g.stride.h - g.padding.h + ki * g.dilation.h, x = ox * sw - g.padding.w + kj * g.dilation.w
                        indices[oy * g.outWidth + ox] = Int64(y * g.width + x)
                    }
                }
            }

            func scanWindows<T: FloatElement>(_ image: UnsafePointer<T>, _ indices: UnsafeMutablePointer<Int64>) {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var best = -1, bestValue = -T.infinity
                        scan: for ki in 0..<g.kernel.h {
                            let y = oy * g.stride.h - g.padding.h + ki * g.dilation.h
                            guard y >= 0 && y < g.height else { continue }
                            for kj in 0..<g.kernel.w {
                                let x = ox * g.stride.w - g.padding.w + kj * g.dilation.w
                                guard x >= 0 && x < g.width else { continue }
                                let v = image[y * g.width + x]
                                if v.isNaN { best = y * g.width + x; break scan }
                                if best < 0 || v > bestValue { (best, bestValue) = (y * g.width + x, v) }
                            }
                        }
                        indices[oy * g.outWidth + ox] = Int64(best)
                    }
                }
            }
        }
        let planes = g.batch * g.channels
        let indices = Tensor(uninitializedShape: [planes, g.outHeight * g.outWidth], dtype: .int64)
        dtype.dispatchFloat(WindowMaxima(x: detached().contiguous(), indices: indices, g: g), operation: "maxPool2d")
        return reshaped([planes, g.height * g.width]).gather(axis: 1, index: indices)
            .reshaped([g.batch, g.channels, g.outHeight, g.outWidth])
    }

    /// Average pooling (`F.avg_pool2d`, count_include_pad=True): the mean of each window,
    /// zero padding included.
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        let stride = stride ?? kernel
        let g = patchGeometry(kernel: kernel, stride: stride, padding: padding, dilation: (1, 1))
        return unfold(kernel: kernel, stride: stride, padding: padding)
            .reshaped([g.batch, g.channels, kernel.0 * kernel.1, g.outHeight * g.outWidth])
            .mean(axis: 2).reshaped([g.batch, g.channels, g.outHeight, g.outWidth])
    }
}
