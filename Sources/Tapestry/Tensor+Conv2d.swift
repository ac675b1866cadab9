/// 2-D convolution, y[n, o, p] = Σ_{c,i,j} w[o, c, i, j] · x[n, c, p·s + i·d − pad] + b[o],
/// by im2col + gemm (Chellapilla, Puri & Simard, "High Performance Convolutional Neural
/// Networks for Document Processing", 2006).
///
/// One operation with a hand-written backward pass, a few images at a time: their patches
/// are unfolded (im2col) side by side into one reused buffer — or not at all for a single
/// image under a 1×1 convolution with stride 1 and no padding, whose patches are the image
/// itself — and multiplied by the weight in one gemm per group. Small feature maps are
/// grouped so that a gemm has at least `ConvolutionLayout.minimumColumns` columns: OpenBLAS
/// packs the weight once per call, and a deep layer's weight is far larger than one image's
/// patches. The weight's gradient accumulates over the images inside the gemm (β = 0 for
/// the first images, then 1), so it is never zeroed first and no per-image gradient is ever
/// materialised.
///
/// Stride-1 layers are computed by one of two direct convolutions instead, which read the
/// padded input in place (`ConvolutionLayout.path`).
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
            // The weight gradient's first chunk of images overwrites it: zeros only for an empty batch.
            let gradWeight = weight.autograd == nil ? nil
                : layout.g.batch == 0 ? Tensor.zeros(w.shape, dtype: w.dtype) : Tensor(uninitializedShape: w.shape, dtype: w.dtype)
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
    var length: Int { g.length }
    /// Output channels per group.
    var groupOut: Int { outChannels / groups }
    /// True for a 1×1 convolution with stride 1 and no padding.
    var isPointwise: Bool {
        g.kernel == (1, 1) && g.stride == (1, 1) && g.padding == (0, 0)
    }
    /// How a layer is computed.
    enum Path { case im2col, direct, blocked }

    /// Stride 1, dilation 1, one group, a kernel larger than 1×1 and padding less than the
    /// kernel go to one of the two direct convolutions, which read the padded input in place:
    /// - `direct` (Conv2d+Direct.swift) when the output pixels are at least
    ///   `minimumDirectShare` of each padded plane ((H + p) × (W + p): it computes the rest
    ///   of the span too and drops it) and the batch has at least `minimumDirectPixels`;
    /// - else `blocked` (BlockedConvolution.swift: no pixel computed in vain, but the weight
    ///   packed per call) when the batch has at least `minimumBlockedPixels`;
    /// - else im2col + gemm.
    ///
    /// Measured with `zoo bench layers --conv-input`, 3×3, forward, the paths alternating:
    /// 8×256×8² 2.95–3.41 ms blocked against 3.81–3.97 on im2col (forward + backward
    /// 9.7–11.2 against 11.6–12.4); 8×128×16² 2.87–3.62 blocked against 3.39–4.01 direct;
    /// 4×256×8² (256 pixels) 1.80–2.38 against 1.84–2.79 on im2col; but 2×512×8² (128
    /// pixels, a weight 36 times the input) 3.3–3.8 against 2.7–3.1 on im2col.
    var path: Path {
        guard g.stride == (1, 1) && g.dilation == (1, 1) && groups == 1 && g.kernel != (1, 1)
            && g.padding.h < g.kernel.h && g.padding.w < g.kernel.w else { return .im2col }
        let plane = (g.height + g.padding.h) * (g.width + g.padding.w), pixels = g.batch * length
        if Double(length) >= Self.minimumDirectShare * Double(plane) && pixels >= Self.minimumDirectPixels { return .direct }
        return pixels >= Self.minimumBlockedPixels ? .blocked : .im2col
    }
    static let minimumDirectShare = 0.9
    static let minimumDirectPixels = 1024
    static let minimumBlockedPixels = 256

    var blocked: BlockedConvolution {
        BlockedConvolution(batch: g.batch, channels: g.channels, height: g.height, width: g.width, outChannels: outChannels,
                           kernel: g.kernel, padding: g.padding)
    }

    /// The blocked convolution computing the input gradient: over the output gradient padded
    /// by k − 1 − p, into C channels.
    var blockedInputGradient: BlockedConvolution {
        BlockedConvolution(batch: g.batch, channels: outChannels, height: g.outHeight, width: g.outWidth, outChannels: g.channels,
                           kernel: g.kernel, padding: (g.kernel.h - 1 - g.padding.h, g.kernel.w - 1 - g.padding.w))
    }

    /// The geometry of `count` of the batch's images (for im2col/col2im on a chunk).
    func images(_ count: Int) -> PatchGeometry { var chunk = g; chunk.batch = count; return chunk }
    var imageSize: Int { g.channels * g.height * g.width }

    /// Columns a gemm should have at least, for the weight's packing to pay off.
    static let minimumColumns = 512
    /// Images multiplied in one gemm: enough for `minimumColumns` columns, at most the batch.
    var chunk: Int { min(g.batch, max(1, (Self.minimumColumns + length - 1) / length)) }
    /// True when an image, read as [C, H·W], is its own patch matrix (pointwise, one image a gemm).
    var patchesInPlace: Bool { isPointwise && chunk == 1 }

    /// The patch matrix [groups·patch, count·length] of images first..<first + count, image i
    /// in columns i·length..<(i + 1)·length: the image itself when in place (no buffer), else
    /// unfolded into `buffer`.
    func patches<T: FloatElement>(_ x: UnsafePointer<T>, images first: Int, count: Int, buffer: UnsafeMutablePointer<T>?) -> UnsafePointer<T> {
        guard let buffer else { return x + first * imageSize }
        backend.im2col(x + first * imageSize, buffer, images(count), rowStride: count * length, imageStride: length)
        return UnsafePointer(buffer)
    }

    /// Copies the chunk's [C, count·length] matrix to (`toImages`) or from its images' [C, length] planes in `images` (from image `first`).
    func exchange<T: FloatElement>(_ matrix: UnsafeMutablePointer<T>, _ images: UnsafeMutablePointer<T>, channels: Int, first: Int, count: Int, toImages: Bool) {
        for i in 0..<count {
            for c in 0..<channels {
                let (row, plane) = (matrix + c * count * length + i * length, images + ((first + i) * channels + c) * length)
                if toImages { plane.update(from: row, count: length) } else { row.update(from: plane, count: length) }
            }
        }
    }
}

/// y[n, group] = W[group] · patches(x[n])[group], one gemm per chunk of images and group.
private struct ConvolutionForward: FloatKernel {
    let x: Tensor, w: Tensor, y: Tensor, layout: ConvolutionLayout
    func run<T: FloatElement>(_: T.Type) {
        let l = layout
        switch l.path {
        case .direct: return l.directForward(x: x.pointer(T.self), w: w.pointer(T.self), y: y.pointer(T.self))
        case .blocked: return l.blocked.forward(x: x.pointer(T.self), w: w.pointer(T.self), y: y.pointer(T.self))
        case .im2col: break
        }
        let buffer = l.patchesInPlace ? nil : Tensor(uninitializedShape: [l.groups * l.patch, l.chunk * l.length], dtype: x.dtype)
        let product = l.chunk == 1 ? nil : Tensor(uninitializedShape: [l.outChannels, l.chunk * l.length], dtype: x.dtype)
        let px = x.pointer(T.self), pw = w.pointer(T.self), py = y.pointer(T.self)
        for first in stride(from: 0, to: l.g.batch, by: l.chunk) {
            let count = min(l.chunk, l.g.batch - first), width = count * l.length
            let cols = l.patches(px, images: first, count: count, buffer: buffer?.pointer(T.self))
            let out = product?.pointer(T.self) ?? py + first * l.outChannels * l.length
            for group in 0..<l.groups {
                backend.gemm(transposeA: false, transposeB: false, m: l.groupOut, n: width, k: l.patch,
                             a: pw + group * l.groupOut * l.patch, lda: l.patch,
                             b: cols + group * l.patch * width, ldb: width,
                             c: out + group * l.groupOut * width, ldc: width, accumulate: false)
            }
            if product != nil { l.exchange(out, py, channels: l.outChannels, first: first, count: count, toImages: true) }
        }
    }
}

/// dW[group] = Σ_n dY[n, group] · patches(x[n])[group]ᵀ (accumulated by the gemm into zeros);
/// dX[n] = fold(W[group]ᵀ · dY[n, group]) (the fold is skipped when in place); a chunk of
/// images per gemm, as forward. The direct paths compute dX their own way (and `direct` dW too).
private struct ConvolutionBackward: FloatKernel {
    let x: Tensor, w: Tensor, grad: Tensor, gradInput: Tensor?, gradWeight: Tensor?, layout: ConvolutionLayout
    func run<T: FloatElement>(_: T.Type) {
        let l = layout
        if l.path == .direct {
            return l.directGradients(x: x.pointer(T.self), w: w.pointer(T.self), dy: grad.pointer(T.self),
                                     dx: gradInput?.pointer(T.self), dw: gradWeight?.pointer(T.self))
        }
        // The blocked path computes the input gradient; the weight gradient is im2col's.
        if l.path == .blocked, let gradInput {
            l.blockedInputGradient.inputGradient(dy: grad.pointer(T.self), w: w.pointer(T.self), dx: gradInput.pointer(T.self))
        }
        let gradInput = l.path == .blocked ? nil : gradInput
        guard gradInput != nil || gradWeight != nil else { return }
        let buffer = l.patchesInPlace ? nil : Tensor(uninitializedShape: [l.groups * l.patch, l.chunk * l.length], dtype: x.dtype)
        let gathered = l.chunk == 1 ? nil : Tensor(uninitializedShape: [l.outChannels, l.chunk * l.length], dtype: x.dtype)
        let px = x.pointer(T.self), pw = w.pointer(T.self), pg = grad.pointer(T.self)
        for first in stride(from: 0, to: l.g.batch, by: l.chunk) {
            let count = min(l.chunk, l.g.batch - first), width = count * l.length
            var dy = UnsafePointer(pg + first * l.outChannels * l.length)
            if let gathered {
                l.exchange(gathered.pointer(T.self), pg, channels: l.outChannels, first: first, count: count, toImages: false)
                dy = UnsafePointer(gathered.pointer(T.self))
            }
            if let gradWeight {
                let cols = l.patches(px, images: first, count: count, buffer: buffer?.pointer(T.self))
                for group in 0..<l.groups {
                    backend.gemm(transposeA: false, transposeB: true, m: l.groupOut, n: l.patch, k: width,
                                 a: dy + group * l.groupOut * width, lda: width,
                                 b: cols + group * l.patch * width, ldb: width,
                                 c: gradWeight.pointer(T.self) + group * l.groupOut * l.patch, ldc: l.patch, accumulate: first > 0)
                }
            }
            if let gradInput {
                let images = gradInput.pointer(T.self)
                let columns = buffer?.pointer(T.self) ?? images + first * l.imageSize
                for group in 0..<l.groups {
                    backend.gemm(transposeA: true, transposeB: false, m: l.patch, n: width, k: l.groupOut,
                                 a: pw + group * l.groupOut * l.patch, lda: l.patch,
                                 b: dy + group * l.groupOut * width, ldb: width,
                                 c: columns + group * l.patch * width, ldc: width, accumulate: false)
                }
                if buffer != nil {
                    backend.col2im(columns, images + first * l.imageSize, l.images(count), rowStride: width, imageStride: l.length)
                }
            }
        }
    }
}
