/// 2-D convolution, y[n, o, p] = Σ_{c,i,j} w[o, c, i, j] · x[n, c, p·s + i·d − pad] + b[o],
/// by im2col + gemm (Chellapilla, Puri & Simard, "High Performance Convolutional Neural
/// Networks for Document Processing", 2006).
///
/// One operation with a hand-written backward pass, image by image:
/// each image's patches are unfolded (im2col) into one reused buffer — or not at all for a
/// 1×1 convolution with stride 1 and no padding, whose patches are the image itself — and
/// multiplied by the weight in one gemm per group. The weight's gradient accumulates over
/// the images inside the gemm (β = 1), so no per-image gradient is ever materialised.
///
/// It computes the same function as `compositeConv2d` (unfold, then a broadcast matmul),
/// which tests compare it with. When the backward pass is itself recorded (`createGraph`),
/// the rule differentiates the composite instead, so second derivatives are the composite's.

extension Tensor {
    /// 2-D convolution (cross-correlation, like `F.conv2d`): input [N, C, H, W], weight
    /// [O, C/groups, kh, kw], optional bias [O] → [N, O, oh, ow].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
        let layout = convolutionLayout(weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let x = detached().contiguous(), w = weight.detached().contiguous()
        let y = Tensor(uninitializedShape: [layout.g.batch, layout.outChannels, layout.g.outHeight, layout.g.outWidth], dtype: dtype)
        dtype.dispatchFloat(ConvolutionForward(x: x, w: w, y: y, layout: layout), operation: "conv2d")
        var out = y.recorded("conv2d", [self, weight]) { grad in
            if GradMode.isEnabled {
                // createGraph: gradients as differentiable tensor ops, through the composite.
                return Tensor.gradientsThroughComposite([self, weight], grad) {
                    self.compositeConv2d(weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
                }
            }
            let gradInput = self.autograd == nil ? nil : Tensor(uninitializedShape: x.shape, dtype: x.dtype)
            let gradWeight = weight.autograd == nil ? nil : Tensor.zeros(w.shape, dtype: w.dtype)
            x.dtype.dispatchFloat(ConvolutionBackward(x: x, w: w, grad: grad.detached().contiguous(), gradInput: gradInput,
                                                      gradWeight: gradWeight, layout: layout), operation: "conv2d backward")
            return [gradInput, gradWeight]
        }
        if let bias {
            check(bias.shape == [layout.outChannels], "conv2d: bias must be [\(layout.outChannels)], got \(bias.shape)")
            out = out + bias.reshaped([layout.outChannels, 1, 1])
        }
        return out
    }

    /// Convolution as unfold + matmul: the formulation `conv2d` is checked against, and
    /// differentiated when second derivatives are asked for.
    public func compositeConv2d(weight: Tensor, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
        let layout = convolutionLayout(weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let g = layout.g
        let cols = unfold(kernel: (g.kernel.h, g.kernel.w), stride: stride, padding: padding, dilation: dilation)
            .reshaped([g.batch, groups, layout.patch, layout.length])
        let w = weight.reshaped([groups, layout.outChannels / groups, layout.patch])
        return w.matmul(cols).reshaped([g.batch, layout.outChannels, g.outHeight, g.outWidth])
    }

    private func convolutionLayout(weight: Tensor, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                                   groups: Int) -> ConvolutionLayout {
        check(weight.rank == 4, "conv2d: weight must be [O, C/groups, kh, kw], got \(weight.shape)")
        check(rank == 4, "conv2d: input must be [N, C, H, W], got \(shape)")
        check(dtype == weight.dtype, "conv2d: input is \(dtype), weight \(weight.dtype)")
        let (c, o) = (shape[1], weight.shape[0])
        check(groups > 0 && c % groups == 0 && o % groups == 0 && weight.shape[1] == c / groups,
              "conv2d: input channels \(c), weight \(weight.shape) and groups \(groups) do not fit together")
        let g = patchGeometry(kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, dilation: dilation, "conv2d")
        return ConvolutionLayout(g: g, groups: groups, outChannels: o)
    }
}

/// Sizes of one convolution, per image and per group.
struct ConvolutionLayout: Sendable {
    let g: PatchGeometry
    let groups: Int
    let outChannels: Int
    /// Rows of a group's patch matrix: C/groups · kh · kw.
    var patch: Int { g.channels / groups * g.kernel.h * g.kernel.w }
    /// Output positions per image: oh · ow.
    var length: Int { g.outHeight * g.outWidth }
    /// Output channels per group.
    var groupOut: Int { outChannels / groups }
    /// True when an image, read as [C, H·W], is its own patch matrix.
    var isPointwise: Bool {
        g.kernel == (1, 1) && g.stride == (1, 1) && g.padding == (0, 0)
    }
    /// One image's geometry (for im2col/col2im on one image at a time).
    var image: PatchGeometry { var one = g; one.batch = 1; return one }
    var imageSize: Int { g.channels * g.height * g.width }

    /// Image `n`'s patch matrix [groups·patch, length]: the image itself when pointwise
    /// (no buffer), else unfolded into `buffer`.
    func patches<T: FloatElement>(_ x: UnsafePointer<T>, image n: Int, buffer: UnsafeMutablePointer<T>?) -> UnsafePointer<T> {
        let source = x + n * imageSize
        guard let buffer else { return source }
        backend.im2col(source, buffer, image)
        return UnsafePointer(buffer)
    }
}

/// y[n, group] = W[group] · patches(x[n])[group], one gemm per image and group.
private struct ConvolutionForward: FloatKernel {
    let x: Tensor, w: Tensor, y: Tensor, layout: ConvolutionLayout
    func run<T: FloatElement>(_: T.Type) {
        let l = layout
        let buffer = l.isPointwise ? nil : Tensor(uninitializedShape: [l.groups * l.patch, l.length], dtype: x.dtype)
        let px = x.pointer(T.self), pw = w.pointer(T.self), py = y.pointer(T.self)
        for n in 0..<l.g.batch {
            let cols = l.patches(px, image: n, buffer: buffer?.pointer(T.self))
            for group in 0..<l.groups {
                backend.gemm(transposeA: false, transposeB: false, m: l.groupOut, n: l.length, k: l.patch,
                             a: pw + group * l.groupOut * l.patch, lda: l.patch,
                             b: cols + group * l.patch * l.length, ldb: l.length,
                             c: py + (n * l.outChannels + group * l.groupOut) * l.length, ldc: l.length, accumulate: false)
            }
        }
    }
}

/// dW[group] = Σ_n dY[n, group] · patches(x[n])[group]ᵀ (accumulated by the gemm into zeros);
/// dX[n] = fold(W[group]ᵀ · dY[n, group]) (the fold is skipped when pointwise).
private struct ConvolutionBackward: FloatKernel {
    let x: Tensor, w: Tensor, grad: Tensor, gradInput: Tensor?, gradWeight: Tensor?, layout: ConvolutionLayout
    func run<T: FloatElement>(_: T.Type) {
        let l = layout
        let buffer = l.isPointwise ? nil : Tensor(uninitializedShape: [l.groups * l.patch, l.length], dtype: x.dtype)
        let px = x.pointer(T.self), pw = w.pointer(T.self), pg = grad.pointer(T.self)
        for n in 0..<l.g.batch {
            let dy = pg + n * l.outChannels * l.length
            if let gradWeight {
                let cols = l.patches(px, image: n, buffer: buffer?.pointer(T.self))
                for group in 0..<l.groups {
                    backend.gemm(transposeA: false, transposeB: true, m: l.groupOut, n: l.patch, k: l.length,
                                 a: dy + group * l.groupOut * l.length, lda: l.length,
                                 b: cols + group * l.patch * l.length, ldb: l.length,
                                 c: gradWeight.pointer(T.self) + group * l.groupOut * l.patch, ldc: l.patch, accumulate: true)
                }
            }
            if let gradInput {
                let target = gradInput.pointer(T.self) + n * l.imageSize
                let columns = l.isPointwise ? target : buffer!.pointer(T.self)
                for group in 0..<l.groups {
                    backend.gemm(transposeA: true, transposeB: false, m: l.patch, n: l.length, k: l.groupOut,
                                 a: pw + group * l.groupOut * l.patch, lda: l.patch,
                                 b: dy + group * l.groupOut * l.length, ldb: l.length,
                                 c: columns + group * l.patch * l.length, ldc: l.length, accumulate: false)
                }
                if !l.isPointwise { backend.col2im(columns, target, l.image) }
            }
        }
    }
}
