/// conv2d's forward and backward passes by direct convolution (DirectConvolution.swift), for
/// the layers `ConvolutionLayout.isDirect` picks: stride 1, dilation 1, one group, a kernel
/// larger than 1×1 and maps large enough that the padding wastes little of the span.

extension ConvolutionLayout {
    /// The padded input: each image at (ph, pw) in an (H + 2ph) × (W + 2pw) plane.
    var paddedInput: SpanLayout {
        SpanLayout(batch: g.batch, channels: g.channels, height: g.height, width: g.width, top: g.padding.h, left: g.padding.w,
                   paddedHeight: g.height + 2 * g.padding.h, paddedWidth: g.width + 2 * g.padding.w)
    }

    /// Output pixels (n, y, x) at their windows' top-left corners in `paddedInput`'s planes.
    var outputInPaddedInput: SpanLayout {
        let p = paddedInput
        return SpanLayout(batch: g.batch, channels: outChannels, height: g.outHeight, width: g.outWidth, top: 0, left: 0,
                          paddedHeight: p.paddedHeight, paddedWidth: p.paddedWidth)
    }

    /// The output gradient padded by k − 1 − p, over which the input gradient is a
    /// convolution of the flipped kernel.
    var paddedOutput: SpanLayout {
        let (top, left) = (g.kernel.h - 1 - g.padding.h, g.kernel.w - 1 - g.padding.w)
        return SpanLayout(batch: g.batch, channels: outChannels, height: g.outHeight, width: g.outWidth, top: top, left: left,
                          paddedHeight: g.outHeight + 2 * top, paddedWidth: g.outWidth + 2 * left)
    }

    /// Input pixels at their windows' top-left corners in `paddedOutput`'s planes.
    var inputInPaddedOutput: SpanLayout {
        let p = paddedOutput
        return SpanLayout(batch: g.batch, channels: g.channels, height: g.height, width: g.width, top: 0, left: 0,
                          paddedHeight: p.paddedHeight, paddedWidth: p.paddedWidth)
    }

    /// The span offsets of a kernel's taps (c, i, j), c-major, in a layout's buffer.
    func taps(channels: Int, in layout: SpanLayout) -> [Int] {
        var taps: [Int] = []
        taps.reserveCapacity(channels * g.kernel.h * g.kernel.w)
        for c in 0..<channels {
            for i in 0..<g.kernel.h {
                for j in 0..<g.kernel.w { taps.append(c * layout.channelStride + i * layout.paddedWidth + j) }
            }
        }
        return taps
    }

    /// Span positions from the first output pixel to the last: (N − 1)·Hp·Wp + (oh − 1)·Wp + ow.
    func span(of output: SpanLayout) -> Int {
        (output.batch - 1) * output.plane + (output.height - 1) * output.paddedWidth + output.width
    }

    /// y[n, o] = Σ_{c,i,j} w[o, c, i, j] · P[c, n, y + i, x + j] with P the padded input.
    func directForward<T: FloatElement>(x: UnsafePointer<T>, w: UnsafePointer<T>, y: UnsafeMutablePointer<T>) {
        let (input, output) = (paddedInput, outputInPaddedInput)
        let padded = UnsafeMutablePointer<T>.allocate(capacity: input.count(slack: DirectConvolution.slack))
        defer { padded.deallocate() }
        input.embed(x, into: padded, slack: DirectConvolution.slack)
        let span = span(of: output), ldo = DirectConvolution.columns(span)
        let out = UnsafeMutablePointer<T>.allocate(capacity: DirectConvolution.rows(outChannels) * ldo)
        defer { out.deallocate() }
        DirectConvolution.run(m: outChannels, weights: w, taps: taps(channels: g.channels, in: input), input: padded,
                              span: span, out: out, ldo: ldo)
        output.extract(out, channelStride: ldo, into: y)
    }

    /// dX[n, c] = Σ_{o,i,j} w[o, c, kh−1−i, kw−1−j] · Q[o, n, y + i, x + j] with Q the output
    /// gradient padded by k − 1 − p.
    func directInputGradient<T: FloatElement>(dy: UnsafePointer<T>, w: UnsafePointer<T>, dx: UnsafeMutablePointer<T>) {
        let (kh, kw, c) = (g.kernel.h, g.kernel.w, g.channels)
        let flipped = UnsafeMutablePointer<T>.allocate(capacity: c * outChannels * kh * kw)
        defer { flipped.deallocate() }
        for o in 0..<outChannels {
            for ci in 0..<c {
                for i in 0..<kh {
                    for j in 0..<kw {
                        flipped[((ci * outChannels + o) * kh + i) * kw + j] = w[((o * c + ci) * kh + kh - 1 - i) * kw + kw - 1 - j]
                    }
                }
            }
        }
        let (gradient, result) = (paddedOutput, inputInPaddedOutput)
        let padded = UnsafeMutablePointer<T>.allocate(capacity: gradient.count(slack: DirectConvolution.slack))
        defer { padded.deallocate() }
        gradient.embed(dy, into: padded, slack: DirectConvolution.slack)
        let span = span(of: result), ldo = DirectConvolution.columns(span)
        let out = UnsafeMutablePointer<T>.allocate(capacity: DirectConvolution.rows(c) * ldo)
        defer { out.deallocate() }
        DirectConvolution.run(m: c, weights: UnsafePointer(flipped), taps: taps(channels: outChannels, in: gradient),
                              input: padded, span: span, out: out, ldo: ldo)
        result.extract(out, channelStride: ldo, into: dx)
    }

    /// dW[:, :, i, j] = G · P_{ij}ᵀ over the span: G the output gradient placed at its pixels'
    /// span positions (zeros between), P_{ij} the padded input read from i·Wp + j on.
    func directWeightGradient<T: FloatElement>(x: UnsafePointer<T>, dy: UnsafePointer<T>, dw: UnsafeMutablePointer<T>) {
        let (input, output) = (paddedInput, outputInPaddedInput)
        let (kh, kw, c, o) = (g.kernel.h, g.kernel.w, g.channels, outChannels)
        let padded = UnsafeMutablePointer<T>.allocate(capacity: input.count(slack: 0))
        let gradient = UnsafeMutablePointer<T>.allocate(capacity: output.count(slack: 0))
        let perTap = UnsafeMutablePointer<T>.allocate(capacity: kh * kw * o * c)
        defer { padded.deallocate(); gradient.deallocate(); perTap.deallocate() }
        input.embed(x, into: padded, slack: 0)
        output.embed(dy, into: gradient, slack: 0)
        let span = span(of: output)
        for i in 0..<kh {
            for j in 0..<kw {
                backend.gemm(transposeA: false, transposeB: true, m: o, n: c, k: span,
                             a: UnsafePointer(gradient), lda: output.channelStride,
                             b: UnsafePointer(padded + i * input.paddedWidth + j), ldb: input.channelStride,
                             c: perTap + (i * kw + j) * o * c, ldc: c, accumulate: false)
            }
        }
        for oi in 0..<o {
            for ci in 0..<c {
                for t in 0..<kh * kw { dw[(oi * c + ci) * kh * kw + t] = perTap[(t * o + oi) * c + ci] }
            }
        }
    }
}
