/// The fused SASA local-attention kernels (`Tensor.localAttention`), on the tensors' own
/// layouts: q, k, v, out [B, N, d, H·W] (= [B, C, H, W]), the relative table [N, d, k²],
/// the softmax weights [B, N, k², H·W], saved by the forward pass for the backward one.
///
/// The loops run window offset by offset: for offset (a, b) every pixel's neighbour is the
/// pixel (a − p, b − p) away, so within an image row the pixels whose neighbour lies inside
/// the image form one run, and each step is a loop along that run over contiguous memory
/// (which the compiler vectorises). Offsets outside the image keep the logit q·r and
/// contribute nothing else.
///
/// Work is split over (batch, head) pairs. Each writes only its own slice of every output —
/// the gradients of the neighbours' keys and values lie in the same slice — and the relative
/// table's gradient goes to a per-pair buffer [B, N, d, k²] summed over the batch afterwards,
/// so threads never collide.
enum LocalAttentionKernels {
    static func forward<T: FloatElement>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>, _ r: UnsafePointer<T>,
                                         _ out: UnsafeMutablePointer<T>, _ weights: UnsafeMutablePointer<T>, _ g: LocalAttentionGeometry) {
        let shared = UnsafeSendable((q, k, v, r, out, weights))
        let (d, hw, window) = (g.channels, g.pixels, g.window)
        Parallel.forEach(g.batch * g.heads, parallel: g.batch * g.heads * hw * window * d > 1 << 15) { item in
            let (q, k, v, r, out, weights) = shared.value
            let n = item % g.heads, slice = item * d * hw
            let (qs, ks, vs, rs, os) = (q + slice, k + slice, v + slice, r + n * d * window, out + slice)
            let logits = weights + item * window * hw
            // Logits: q·r for every offset, plus q·k where the neighbour is inside.
            for index in 0..<window {
                let row = logits + index * hw
                row.initialize(repeating: 0, count: hw)
                for t in 0..<d { addScaled(row, rs[t * window + index], qs + t * hw, hw) }
                g.forEachRun(index) { pixel, neighbour, count in
                    for t in 0..<d { addProduct(row + pixel, qs + t * hw + pixel, ks + t * hw + neighbour, count) }
                }
            }
            softmaxOverOffsets(logits, window: window, pixels: hw)
            os.initialize(repeating: 0, count: d * hw)
            for index in 0..<window {
                let row = logits + index * hw
                g.forEachRun(index) { pixel, neighbour, count in
                    for t in 0..<d { addProduct(os + t * hw + pixel, row + pixel, vs + t * hw + neighbour, count) }
                }
            }
        }
    }

    /// Gradients of `forward` for the upstream gradient gy, accumulated into zeroed gq, gk,
    /// gv [B, N, d, H·W] and gr [B, N, d, k²]:
    ///
    ///     gw_ab = gy·v_ab,  gl_ab = w_ab (gw_ab − Σ w·gw),  gq = Σ gl_ab (k_ab + r_ab),
    ///     gk_ab += gl_ab q,  gv_ab += w_ab gy,  gr_ab += Σ_pixels gl_ab q.
    static func backward<T: FloatElement>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>, _ r: UnsafePointer<T>,
                                          _ weights: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ gq: UnsafeMutablePointer<T>,
                                          _ gk: UnsafeMutablePointer<T>, _ gv: UnsafeMutablePointer<T>, _ gr: UnsafeMutablePointer<T>,
                                          _ g: LocalAttentionGeometry) {
        let shared = UnsafeSendable((q, k, v, r, weights, gy, gq, gk, gv, gr))
        let (d, hw, window) = (g.channels, g.pixels, g.window)
        Parallel.forEach(g.batch * g.heads, parallel: g.batch * g.heads * hw * window * d > 1 << 14) { item in
            let (q, k, v, r, weights, gy, gq, gk, gv, gr) = shared.value
            let n = item % g.heads, slice = item * d * hw
            let (qs, ks, vs, gys) = (q + slice, k + slice, v + slice, gy + slice)
            let (gqs, gks, gvs) = (gq + slice, gk + slice, gv + slice)
            let (rs, grs, w) = (r + n * d * window, gr + item * d * window, weights + item * window * hw)
            let gl = UnsafeMutablePointer<T>.allocate(capacity: window * hw), mean = UnsafeMutablePointer<T>.allocate(capacity: hw)
            defer { gl.deallocate(); mean.deallocate() }
            // gw (0 outside the image), then the softmax's gradient gl = w·(gw − Σ w·gw).
            gl.initialize(repeating: 0, count: window * hw)
            mean.initialize(repeating: 0, count: hw)
            for index in 0..<window {
                let row = gl + index * hw
                g.forEachRun(index) { pixel, neighbour, count in
                    for t in 0..<d { addProduct(row + pixel, gys + t * hw + pixel, vs + t * hw + neighbour, count) }
                }
                addProduct(mean, w + index * hw, row, hw)
            }
            for index in 0..<window {
                let (row, weight) = (gl + index * hw, w + index * hw)
                for p in 0..<hw { row[p] = weight[p] * (row[p] - mean[p]) }
                for t in 0..<d {
                    addScaled(gqs + t * hw, rs[t * window + index], row, hw)
                    grs[t * window + index] += VectorRows.dot(row, qs + t * hw, hw)
                }
                g.forEachRun(index) { pixel, neighbour, count in
                    for t in 0..<d {
                        let (own, other) = (t * hw + pixel, t * hw + neighbour)
                        addProduct(gqs + own, row + pixel, ks + other, count)
                        addProduct(gks + other, row + pixel, qs + own, count)
                        addProduct(gvs + other, weight + pixel, gys + own, count)
                    }
                }
            }
        }
    }

    /// Each pixel's softmax over the offsets: logits [k², H·W], in place.
    static func softmaxOverOffsets<T: FloatElement>(_ logits: UnsafeMutablePointer<T>, window: Int, pixels hw: Int) {
        let largest = UnsafeMutablePointer<T>.allocate(capacity: hw), total = UnsafeMutablePointer<T>.allocate(capacity: hw)
        defer { largest.deallocate(); total.deallocate() }
        largest.initialize(repeating: -T.infinity, count: hw)
        total.initialize(repeating: 0, count: hw)
        for index in 0..<window {
            let row = logits + index * hw
            for p in 0..<hw { largest[p] = Swift.max(largest[p], row[p]) }
        }
        for index in 0..<window {
            let row = logits + index * hw
            for p in 0..<hw {
                row[p] = kernelExp(row[p] - largest[p])
                total[p] += row[p]
            }
        }
        for p in 0..<hw { total[p] = 1 / total[p] }
        for index in 0..<window {
            let row = logits + index * hw
            for p in 0..<hw { row[p] *= total[p] }
        }
    }

    // The helpers below run on 8 lanes with a scalar tail of at most 7. Left to the
    // compiler, the products ran on 4 lanes (and a dot product, a serial sum that it may not
    // reorder, one element at a time: the kernels use `VectorRows.dot`).

    /// y += alpha·x.
    @inline(__always)
    static func addScaled<T: FloatElement>(_ y: UnsafeMutablePointer<T>, _ alpha: T, _ x: UnsafePointer<T>, _ count: Int) {
        let scale = SIMD8(repeating: alpha)
        var i = 0
        while i &+ 8 <= count { VectorRows.store(VectorRows.load(y + i) + scale * VectorRows.load(x + i), y + i); i &+= 8 }
        while i < count { y[i] += alpha * x[i]; i &+= 1 }
    }

    /// y += a ⊙ b.
    @inline(__always)
    static func addProduct<T: FloatElement>(_ y: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ count: Int) {
        var i = 0
        while i &+ 8 <= count { VectorRows.store(VectorRows.load(y + i) + VectorRows.load(a + i) * VectorRows.load(b + i), y + i); i &+= 8 }
        while i < count { y[i] += a[i] * b[i]; i &+= 1 }
    }
}

extension LocalAttentionGeometry {
    /// Calls `body(pixel, neighbour, count)` for each image row's run of pixels whose
    /// neighbour at window offset `index` lies inside the image: pixels pixel..<pixel+count
    /// have neighbours neighbour..<neighbour+count.
    @inline(__always)
    func forEachRun(_ index: Int, _ body: (_ pixel: Int, _ neighbour: Int, _ count: Int) -> Void) {
        let (dy, dx) = (index / kernelSize - padding, index % kernelSize - padding)
        let (firstColumn, endColumn) = (Swift.max(0, -dx), Swift.min(width, width - dx))
        let (firstRow, endRow) = (Swift.max(0, -dy), Swift.min(height, height - dy))
        guard firstColumn < endColumn && firstRow < endRow else { return }
        for i in firstRow..<endRow {
            body(i * width + firstColumn, (i + dy) * width + firstColumn + dx, endColumn - firstColumn)
        }
    }
}
