/// The fused SASA local-attention kernels (`Tensor.localAttention`). Inputs and outputs are
/// on the tensors' own layouts: q, k, v, out [B, N, d, H·W] (= [B, C, H, W]) and the relative
/// table [N, d, k²]. The softmax weights [B, N, k², (H + 2p)(W + 2p)] are saved by the
/// forward pass for the backward one, on the padded layout below (0 outside the span).
///
/// Each (batch, head) pair first copies its maps into zero-padded ones (`PaddedMaps`): p
/// zeros on every side, rows of W + 2p. There, the neighbour at window offset o = (a, b) of
/// every pixel lies the same distance δ_o = (a − p)·(W + 2p) + (b − p) further along the
/// buffer. So every step is one loop over the span from the first pixel to the last, which
/// runs on 8 lanes, rather than one short loop per image row. The span also holds the 2p
/// padding columns between rows; their q and upstream gradient are 0, so they contribute
/// nothing, and their outputs are dropped. A neighbour outside the image is a zero of the
/// padding: the key and value 0 of the definition (the logit keeps q·r).
///
/// Every output is computed as a sum over the window at its own pixel, kept in registers and
/// stored once (`windowSum`): out and gq read the neighbours at +δ_o, and the gradients of
/// keys and values, rather than being scattered to the neighbours, read the pixels that have
/// them as neighbour, at −δ_o.
///
/// Work is split over (batch, head) pairs. Each writes only its own slice of every output,
/// and the relative table's gradient goes to a per-pair buffer [B, N, d, k²] summed over the
/// batch afterwards, so threads never collide.
enum LocalAttentionKernels {
    static func forward<T: FloatElement>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>, _ r: UnsafePointer<T>,
                                         _ out: UnsafeMutablePointer<T>, _ weights: UnsafeMutablePointer<T>, _ g: LocalAttentionGeometry) {
        let (d, hw, window, maps) = (g.channels, g.pixels, g.window, PaddedMaps(g))
        let (span, first, size) = (maps.span, maps.first, maps.size)
        let offsets = WindowOffsets<T>(maps, window: window, channels: d)
        defer { offsets.deallocate() }
        let shared = UnsafeSendable((q, k, v, r, out, weights, offsets))
        Parallel.forEach(g.batch * g.heads, parallel: g.batch * g.heads * hw * window * d > 1 << 15) { item in
            let (q, k, v, r, out, weights, offsets) = shared.value
            let slice = item * d * hw
            let column = RelativeColumns<T>(r + (item % g.heads) * d * window, channels: d, window: window)
            let (qp, kp, vp) = (maps.padded(q + slice, channels: d), maps.padded(k + slice, channels: d), maps.padded(v + slice, channels: d))
            let outSpan = UnsafeMutablePointer<T>.allocate(capacity: d * span)
            defer { for buffer in [qp, kp, vp, outSpan] { buffer.deallocate() }; column.deallocate() }
            // Logits Σ_t q·(k_o + r_o) on the span, then each pixel's softmax over the window.
            let w = weights + item * window * size
            w.initialize(repeating: 0, count: window * size)
            for o in 0..<window {
                sumOfChannelProducts(w + o * size + first, qp + first, kp + first + offsets.neighbour[o], plus: column.values(o),
                                     channels: d, stride: size, count: span)
            }
            softmaxOverOffsets(w + first, window: window, rowStride: size, pixels: span)
            for t in 0..<d {
                windowSum(outSpan + t * span, w + first, at: offsets.own, vp + t * size + first, at: offsets.neighbour,
                          plus: offsets.noBias, window: window, count: span)
            }
            maps.extract(outSpan, stride: span, into: out + slice, channels: d)
        }
    }

    /// Gradients of `forward` for the upstream gradient gy, written to gq, gk, gv
    /// [B, N, d, H·W] and gr [B, N, d, k²]:
    ///
    ///     gw_o = gy·v_o,  gl_o = w_o (gw_o − Σ w·gw),  gq = Σ_o gl_o (k_o + r_o),
    ///     gk(x) = Σ_o gl_o(x − δ_o) q(x − δ_o),  gv(x) = Σ_o w_o(x − δ_o) gy(x − δ_o),  gr_o = Σ_pixels gl_o q.
    static func backward<T: FloatElement>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>, _ r: UnsafePointer<T>,
                                          _ weights: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ gq: UnsafeMutablePointer<T>,
                                          _ gk: UnsafeMutablePointer<T>, _ gv: UnsafeMutablePointer<T>, _ gr: UnsafeMutablePointer<T>,
                                          _ g: LocalAttentionGeometry) {
        let (d, hw, window, maps) = (g.channels, g.pixels, g.window, PaddedMaps(g))
        let (span, first, size) = (maps.span, maps.first, maps.size)
        let offsets = WindowOffsets<T>(maps, window: window, channels: d)
        defer { offsets.deallocate() }
        let shared = UnsafeSendable((q, k, v, r, weights, gy, gq, gk, gv, gr, offsets))
        Parallel.forEach(g.batch * g.heads, parallel: g.batch * g.heads * hw * window * d > 1 << 14) { item in
            let (q, k, v, r, weights, gy, gq, gk, gv, gr, offsets) = shared.value
            let slice = item * d * hw
            let (rs, grs, w) = (r + (item % g.heads) * d * window, gr + item * d * window, weights + item * window * size)
            let (qp, kp, vp, gyp) = (maps.padded(q + slice, channels: d), maps.padded(k + slice, channels: d),
                                     maps.padded(v + slice, channels: d), maps.padded(gy + slice, channels: d))
            let gradientSpans = UnsafeMutablePointer<T>.allocate(capacity: 3 * d * span)
            let gl = UnsafeMutablePointer<T>.allocate(capacity: window * size), mean = UnsafeMutablePointer<T>.allocate(capacity: span)
            defer { for buffer in [qp, kp, vp, gyp, gradientSpans, gl, mean] { buffer.deallocate() } }
            // gw, then the softmax's gradient gl = w·(gw − Σ w·gw), 0 outside the span.
            gl.initialize(repeating: 0, count: window * size)
            mean.initialize(repeating: 0, count: span)
            for o in 0..<window {
                let row = gl + o * size + first
                sumOfChannelProducts(row, gyp + first, vp + first + offsets.neighbour[o], plus: offsets.noBias,
                                     channels: d, stride: size, count: span)
                addProduct(mean, w + o * size + first, row, span)
            }
            for o in 0..<window {
                let (row, weight) = (gl + o * size + first, w + o * size + first)
                for p in 0..<span { row[p] = weight[p] * (row[p] - mean[p]) }
                for t in 0..<d { grs[t * window + o] = VectorRows.dot(row, qp + first + t * size, span) }
            }
            let (gqSpan, gkSpan, gvSpan) = (gradientSpans, gradientSpans + d * span, gradientSpans + 2 * d * span)
            for t in 0..<d {
                let channel = t * size + first
                windowSum(gqSpan + t * span, gl + first, at: offsets.own, kp + channel, at: offsets.neighbour,
                          plus: rs + t * window, window: window, count: span)
                windowSum(gkSpan + t * span, gl + first, at: offsets.ownBack, qp + channel, at: offsets.back,
                          plus: offsets.noBias, window: window, count: span)
                windowSum(gvSpan + t * span, w + first, at: offsets.ownBack, gyp + channel, at: offsets.back,
                          plus: offsets.noBias, window: window, count: span)
            }
            maps.extract(gqSpan, stride: span, into: gq + slice, channels: d)
            maps.extract(gkSpan, stride: span, into: gk + slice, channels: d)
            maps.extract(gvSpan, stride: span, into: gv + slice, channels: d)
        }
    }

    /// Each pixel's softmax over the window: logits rows of `pixels` values, `rowStride` apart, in place.
    static func softmaxOverOffsets<T: FloatElement>(_ logits: UnsafeMutablePointer<T>, window: Int, rowStride: Int, pixels: Int) {
        let largest = UnsafeMutablePointer<T>.allocate(capacity: pixels), total = UnsafeMutablePointer<T>.allocate(capacity: pixels)
        defer { largest.deallocate(); total.deallocate() }
        largest.initialize(repeating: -T.infinity, count: pixels)
        total.initialize(repeating: 0, count: pixels)
        for o in 0..<window {
            let row = logits + o * rowStride
            for p in 0..<pixels { largest[p] = Swift.max(largest[p], row[p]) }
        }
        for o in 0..<window {
            let row = logits + o * rowStride
            for p in 0..<pixels {
                row[p] = kernelExp(row[p] - largest[p])
                total[p] += row[p]
            }
        }
        for p in 0..<pixels { total[p] = 1 / total[p] }
        for o in 0..<window {
            let row = logits + o * rowStride
            for p in 0..<pixels { row[p] *= total[p] }
        }
    }

    // The helpers below run on 8 lanes with a scalar tail of at most 7. Left to the
    // compiler, products ran on 4 lanes, and a dot product (a serial sum that it may not
    // reorder) one element at a time: the kernels use `VectorRows.dot`.

    /// y[i] = Σ_o a[aAt[o] + i]·(b[bAt[o] + i] + c[o]) over the window, four vectors of y at a
    /// time, each sum kept in a register.
    @inline(__always)
    static func windowSum<T: FloatElement>(_ y: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, at aAt: UnsafePointer<Int>,
                                           _ b: UnsafePointer<T>, at bAt: UnsafePointer<Int>, plus c: UnsafePointer<T>,
                                           window: Int, count: Int) {
        var i = 0
        while i &+ 32 <= count {
            var (s0, s1, s2, s3) = (SIMD8<T>(), SIMD8<T>(), SIMD8<T>(), SIMD8<T>())
            for o in 0..<window {
                let (x, z, bias) = (a + (aAt[o] &+ i), b + (bAt[o] &+ i), SIMD8<T>(repeating: c[o]))
                VectorRows.madd(&s0, VectorRows.load(x), VectorRows.load(z) + bias)
                VectorRows.madd(&s1, VectorRows.load(x + 8), VectorRows.load(z + 8) + bias)
                VectorRows.madd(&s2, VectorRows.load(x + 16), VectorRows.load(z + 16) + bias)
                VectorRows.madd(&s3, VectorRows.load(x + 24), VectorRows.load(z + 24) + bias)
            }
            VectorRows.store(s0, y + i); VectorRows.store(s1, y + i + 8); VectorRows.store(s2, y + i + 16); VectorRows.store(s3, y + i + 24)
            i &+= 32
        }
        while i &+ 8 <= count {
            var s = SIMD8<T>()
            for o in 0..<window { VectorRows.madd(&s, VectorRows.load(a + (aAt[o] &+ i)), VectorRows.load(b + (bAt[o] &+ i)) + SIMD8(repeating: c[o])) }
            VectorRows.store(s, y + i)
            i &+= 8
        }
        while i < count {
            var s = T.zero
            for o in 0..<window { s += a[aAt[o] &+ i] * (b[bAt[o] &+ i] + c[o]) }
            y[i] = s
            i &+= 1
        }
    }

    /// row[i] = Σ_t a[t·stride + i]·(b[t·stride + i] + c[t]), the channels summed in a register.
    @inline(__always)
    static func sumOfChannelProducts<T: FloatElement>(_ row: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                                      plus c: UnsafePointer<T>, channels: Int, stride: Int, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            var total = SIMD8<T>()
            for t in 0..<channels {
                let at = t &* stride &+ i
                VectorRows.madd(&total, VectorRows.load(a + at), VectorRows.load(b + at) + SIMD8(repeating: c[t]))
            }
            VectorRows.store(total, row + i)
            i &+= 8
        }
        while i < count {
            var total = T.zero
            for t in 0..<channels { total += a[t &* stride &+ i] * (b[t &* stride &+ i] + c[t]) }
            row[i] = total
            i &+= 1
        }
    }

    /// y += a ⊙ b.
    @inline(__always)
    static func addProduct<T: FloatElement>(_ y: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ count: Int) {
        var i = 0
        while i &+ 8 <= count { VectorRows.store(VectorRows.load(y + i) + VectorRows.load(a + i) * VectorRows.load(b + i), y + i); i &+= 8 }
        while i < count { y[i] += a[i] * b[i]; i &+= 1 }
    }
}

/// One head's relative table [d, k²] by window offset: `values(o)` points at the d values
/// r[·, o], contiguous.
struct RelativeColumns<T: FloatElement> {
    private let columns: UnsafeMutablePointer<T>
    private let channels: Int

    init(_ table: UnsafePointer<T>, channels: Int, window: Int) {
        self.channels = channels
        columns = .allocate(capacity: channels * window)
        for t in 0..<channels { for o in 0..<window { columns[o * channels + t] = table[t * window + o] } }
    }

    func values(_ o: Int) -> UnsafePointer<T> { UnsafePointer(columns + o * channels) }
    func deallocate() { columns.deallocate() }
}

/// Where `windowSum` reads, per window offset o, relative to a pixel's place: in a padded
/// map, its neighbour (+δ_o) and the pixel that has it as neighbour (−δ_o); in the saved
/// rows [k², (H + 2p)(W + 2p)], the own place in row o and the place −δ_o in row o.
/// `noBias` is max(k², d) zeros: no relative term, for a window sum or a sum over channels.
struct WindowOffsets<T: FloatElement> {
    let neighbour: UnsafeMutablePointer<Int>, back: UnsafeMutablePointer<Int>
    let own: UnsafeMutablePointer<Int>, ownBack: UnsafeMutablePointer<Int>
    let noBias: UnsafeMutablePointer<T>

    init(_ maps: PaddedMaps, window: Int, channels: Int) {
        (neighbour, back, own, ownBack) = (.allocate(capacity: window), .allocate(capacity: window), .allocate(capacity: window), .allocate(capacity: window))
        for o in 0..<window {
            (neighbour[o], back[o]) = (maps.shift(o), -maps.shift(o))
            (own[o], ownBack[o]) = (o * maps.size, o * maps.size - maps.shift(o))
        }
        noBias = .allocate(capacity: Swift.max(window, channels))
        noBias.initialize(repeating: 0, count: Swift.max(window, channels))
    }

    func deallocate() {
        for buffer in [neighbour, back, own, ownBack] { buffer.deallocate() }
        noBias.deallocate()
    }
}

/// d maps of H×W copied into buffers with p zeros on every side (rows of W + 2p, `size`
/// values per map). Pixel (i, j) sits at `first + i·(W + 2p) + j`; its neighbour at window
/// offset `index` sits `shift(index)` further. The span from the first pixel to the last is
/// `span` values long.
struct PaddedMaps {
    let height: Int, width: Int, padding: Int, kernelSize: Int

    init(_ g: LocalAttentionGeometry) {
        (height, width, padding, kernelSize) = (g.height, g.width, g.padding, g.kernelSize)
    }

    var rowLength: Int { width + 2 * padding }
    var size: Int { (height + 2 * padding) * rowLength }
    var first: Int { padding * rowLength + padding }
    var span: Int { (height - 1) * rowLength + width }

    func shift(_ index: Int) -> Int { (index / kernelSize - padding) * rowLength + index % kernelSize - padding }

    /// x [channels, H·W] copied into padded maps.
    func padded<T: FloatElement>(_ x: UnsafePointer<T>, channels: Int) -> UnsafeMutablePointer<T> {
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: channels * size)
        layout(channels: channels, padding: padding).embed(x, into: buffer, slack: 0)
        return buffer
    }

    /// The pixels of `channels` maps laid out as in the padding (pixel (i, j) at
    /// i·(W + 2p) + j from `source`, maps `stride` apart) copied to y [channels, H·W].
    func extract<T: FloatElement>(_ source: UnsafePointer<T>, stride: Int, into y: UnsafeMutablePointer<T>, channels: Int) {
        layout(channels: channels, padding: 0).extract(source, channelStride: stride, into: y)
    }

    /// The maps of one (batch, head) as a span layout, their pixels `padding` rows and
    /// columns in from the start of rows W + 2p long.
    private func layout(channels: Int, padding offset: Int) -> SpanLayout {
        SpanLayout(batch: 1, channels: channels, height: height, width: width, top: offset, left: offset,
                   paddedHeight: height + 2 * padding, paddedWidth: rowLength)
    }
}
