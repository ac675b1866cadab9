/// conv2d's forward and backward passes by direct convolution (DirectConvolution.swift), for
/// the layers whose `ConvolutionLayout.path` is `.direct`: stride 1, dilation 1, one group, a
/// kernel larger than 1×1 and maps large enough that the padding wastes little of the span.

extension ConvolutionLayout {
    /// The padded input: each image at (ph, pw) in an (H + ph) × (W + pw) plane. A row's
    /// right padding is the next row's left one, an image's bottom padding the next plane's top.
    var paddedInput: SpanLayout {
        SpanLayout(batch: g.batch, channels: g.channels, height: g.height, width: g.width, top: g.padding.h, left: g.padding.w,
                   paddedHeight: g.height + g.padding.h, paddedWidth: g.width + g.padding.w)
    }

    /// Output pixels (n, y, x) at their windows' top-left corners in `paddedInput`'s planes.
    var outputInPaddedInput: SpanLayout {
        let p = paddedInput
        return SpanLayout(batch: g.batch, channels: outChannels, height: g.outHeight, width: g.outWidth, top: 0, left: 0,
                          paddedHeight: p.paddedHeight, paddedWidth: p.paddedWidth)
    }

    /// The output gradient padded by k − 1 − p (planes laid out as `paddedInput`'s), over
    /// which the input gradient is a convolution of the flipped kernel.
    var paddedOutput: SpanLayout {
        let (top, left) = (g.kernel.h - 1 - g.padding.h, g.kernel.w - 1 - g.padding.w)
        return SpanLayout(batch: g.batch, channels: outChannels, height: g.outHeight, width: g.outWidth, top: top, left: left,
                          paddedHeight: g.outHeight + top, paddedWidth: g.outWidth + left)
    }

    /// Zeros a buffer in a padded layout needs after its last channel: the windows of the last
    /// plane's bottom rows reach into the top padding a next plane would have, and the last
    /// tile overhangs the span.
    func slack(of padded: SpanLayout) -> Int { (padded.top + 1) * padded.paddedWidth + DirectConvolution.slack }

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
        let paddedBuffer = PooledBuffer<T>(input.count(slack: slack(of: input)))
        defer { paddedBuffer.release() }
        let padded = paddedBuffer.pointer
        input.embed(x, into: padded, slack: slack(of: input))
        DirectConvolution.run(weights: w, taps: taps(channels: g.channels, in: input), input: padded,
                              span: span(of: output), into: output, images: y)
    }

    /// Both gradients from one copy of the output gradient padded by k − 1 − p (Q).
    func directGradients<T: FloatElement>(x: UnsafePointer<T>, w: UnsafePointer<T>, dy: UnsafePointer<T>,
                                          dx: UnsafeMutablePointer<T>?, dw: UnsafeMutablePointer<T>?) {
        let gradient = paddedOutput
        // Rows of zeros after the last channel: the weight gradient reads rows(O) channels.
        let zerosAfter = (DirectConvolution.rows(outChannels) - outChannels) * gradient.channelStride + slack(of: gradient)
        let paddedBuffer = PooledBuffer<T>(gradient.count(slack: zerosAfter))
        defer { paddedBuffer.release() }
        let padded = paddedBuffer.pointer
        gradient.embed(dy, into: padded, slack: zerosAfter)
        if let dw { directWeightGradient(x: x, paddedGradient: padded, dw: dw) }
        if let dx { directInputGradient(paddedGradient: padded, w: w, dx: dx) }
    }

    /// dX[n, c] = Σ_{o,i,j} w[o, c, kh−1−i, kw−1−j] · Q[o, n, y + i, x + j].
    private func directInputGradient<T: FloatElement>(paddedGradient: UnsafePointer<T>, w: UnsafePointer<T>, dx: UnsafeMutablePointer<T>) {
        let (kh, kw, c) = (g.kernel.h, g.kernel.w, g.channels)
        let flippedBuffer = PooledBuffer<T>(c * outChannels * kh * kw)
        defer { flippedBuffer.release() }
        let flipped = flippedBuffer.pointer
        let (weights, target, o) = (UnsafeSendable(w), UnsafeSendable(flipped), outChannels)
        Parallel.forEach(c, parallel: c * o * kh * kw > 1 << 16) { ci in
            for oi in 0..<o {
                let from = weights.value + (oi * c + ci) * kh * kw, to = target.value + (ci * o + oi) * kh * kw
                for t in 0..<kh * kw { to[t] = from[kh * kw - 1 - t] }
            }
        }
        let (gradient, result) = (paddedOutput, inputInPaddedOutput)
        DirectConvolution.run(weights: UnsafePointer(flipped), taps: taps(channels: outChannels, in: gradient),
                              input: paddedGradient, span: span(of: result), into: result, images: dx)
    }

    /// dW[o, c, i, j] = Σ_s G[o, s] · Pᵀ[s + i·Wp + j, c]: G the output gradient at its pixels'
    /// span positions in the padded input's planes, Pᵀ the padded input laid out channels last.
    /// G is Q read from (k − 1 − p) rows and columns in: Q's planes are the padded input's
    /// (oh + k − 1 − p = H + p), and the zeros Q has around each image are the positions
    /// between G's pixels.
    private func directWeightGradient<T: FloatElement>(x: UnsafePointer<T>, paddedGradient: UnsafePointer<T>,
                                                       dw: UnsafeMutablePointer<T>) {
        let (input, output, q) = (paddedInput, outputInPaddedInput, paddedOutput)
        precondition(q.plane == input.plane && q.paddedWidth == input.paddedWidth, "the output gradient's planes are the input's")
        let (kh, kw, c, o) = (g.kernel.h, g.kernel.w, g.channels, outChannels)
        let (ld, mPadded) = (DirectConvolution.channelsLast(c), DirectConvolution.rows(o))
        let channelsLastBuffer = PooledBuffer<T>((input.channelStride + slack(of: input)) * ld)
        let perTapBuffer = PooledBuffer<T>(kh * kw * mPadded * ld)
        defer { channelsLastBuffer.release(); perTapBuffer.release() }
        let (channelsLast, perTap) = (channelsLastBuffer.pointer, perTapBuffer.pointer)
        input.embedChannelsLast(x, into: channelsLast, ld: ld, slack: slack(of: input))
        let gradient = paddedGradient + q.top * q.paddedWidth + q.left
        let shifts = (0..<kh * kw).map { ($0 / kw) * input.paddedWidth + $0 % kw }
        DirectConvolution.weightGradient(m: o, gradient: gradient, ldg: q.channelStride,
                                         input: channelsLast, ld: ld, shifts: shifts, span: span(of: output), out: perTap)
        let (source, target) = (UnsafeSendable(perTap), UnsafeSendable(dw))
        Parallel.forEach(o, parallel: o * c * kh * kw > 1 << 16) { oi in
            for ci in 0..<c {
                for t in 0..<kh * kw { target.value[(oi * c + ci) * kh * kw + t] = source.value[(t * mPadded + oi) * ld + ci] }
            }
        }
    }
}
