/// Convolution as a matrix product whose right operand is never written out whole: the
/// patch matrix (im2col) is unfolded one micro-panel at a time — kc patch rows × 4W output
/// positions, a buffer that stays in the L1 cache — and multiplied there by the blocked
/// gemm's micro-kernel with the weight read in place (the "implicit im2col" of cuDNN; Chetlur et
/// al., "cuDNN: Efficient Primitives for Deep Learning", 2014):
///
///     y[o, q] = Σ_r w[o, r] · patches[r, q],   r = (c, i, j),  q = (n, oy, ox) over the batch,
///     patches[(c, i, j), (n, oy, ox)] = x[n, c, oy·sh + i·dh − ph, ox·sw + j·dw − pw]  (0 outside)
///
/// It spares the patch matrix's round trip through memory, a gemm library's packing of it,
/// and its zeroing of C, for any stride, dilation and padding (one group).
enum PatchPanels {
    /// y [N, O, oh, ow] = conv(x [N, C, H, W], w [O, C, kh, kw]) for the geometry `g`.
    static func forward<T: FloatElement>(x: UnsafePointer<T>, w: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
                                         geometry g: PatchGeometry, outChannels: Int) {
        if T.self == Float.self {
            Kernel<SIMD16<Float>>.forward(x: rebound(x), w: rebound(w), y: rebound(y), geometry: g, outChannels: outChannels)
        } else {
            Kernel<SIMD8<Double>>.forward(x: rebound(x), w: rebound(w), y: rebound(y), geometry: g, outChannels: outChannels)
        }
    }

    enum Kernel<V: SIMD & SendableMetatype> where V.Scalar: FloatElement {
        typealias T = V.Scalar
        typealias Gemm = BlockedGemm<V>

        /// Work items are runs of tiles (4W output positions each) × groups of weight panels,
        /// two a thread: each item unfolds its own tiles' micro-panels (a tile shared by two
        /// panel groups is unfolded twice, so items are few) and copies its block of the
        /// product out to the images.
        static func forward(x: UnsafePointer<T>, w: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
                            geometry g: PatchGeometry, outChannels m: Int) {
            let (k, kc, nr, mr) = (g.patchRows, Gemm.kc, Gemm.nr, Gemm.mr)
            let positions = g.batch * g.length
            guard positions > 0 && m > 0 else { return }
            // The weight is read in place, six rows a panel; a last panel of fewer rows is
            // copied out with zero rows after it.
            let fullPanels = m / mr
            let tailBuffer = PooledBuffer<T>(mr * k)
            defer { tailBuffer.release() }
            tailBuffer.pointer.initialize(repeating: 0, count: mr * k)
            tailBuffer.pointer.update(from: w + fullPanels * mr * k, count: (m - fullPanels * mr) * k)
            let grid = WorkGrid(tiles: (positions + nr - 1) / nr, panels: DirectConvolution.rows(m) / mr, itemsPerThread: 2)
            let unfolding = PatchUnfolding(g)
            let shared = UnsafeSendable((w, UnsafePointer(tailBuffer.pointer), x, y))
            Parallel.forEach(grid.items, parallel: m * k * positions >= 1 << 18) { item in
                let (w, tail, x, y) = shared.value
                let (tiles, panels) = grid.ranges(item)
                let ld = tiles.count * nr
                let blockBuffer = PooledBuffer<T>(panels.count * mr * ld), panelBuffer = PooledBuffer<T>(kc * nr)
                defer { blockBuffer.release(); panelBuffer.release() }
                let (block, panel) = (blockBuffer.pointer, panelBuffer.pointer)
                let runs = tiles.map { unfolding.runs($0 * nr..<min(positions, ($0 + 1) * nr)) }
                for pc in stride(from: 0, to: k, by: kc) {
                    let rows = pc..<min(k, pc + kc)
                    for (column, tile) in tiles.enumerated() {
                        unfolding.unfold(x, rows: rows, runs: runs[column], into: panel, width: nr)
                        for (row, weights) in panels.enumerated() {
                            let a = weights < fullPanels ? w + weights * mr * k : tail
                            Gemm.microKernel(kc: rows.count, a: StridedColumns(base: a + pc, stride: k),
                                             b: StridedRows(base: UnsafePointer(panel), stride: nr),
                                             c: block + row * mr * ld + column * nr, ldc: ld, accumulate: pc > 0)
                        }
                    }
                }
                let channels = panels.lowerBound * mr..<min(m, panels.upperBound * mr)
                let columns = tiles.lowerBound * nr..<min(positions, tiles.upperBound * nr)
                unfolding.scatterProduct(block, ld: ld, channels: channels, positions: columns, outChannels: m, into: y)
            }
        }
    }
}

/// Unfolds micro-panels of a batch's patch matrix, and writes a block of a product over it
/// back to images.
struct PatchUnfolding: Sendable {
    let g: PatchGeometry
    /// For each kernel column j, the output columns whose tap j reads inside the image.
    let insideColumns: [Range<Int>]

    init(_ g: PatchGeometry) {
        self.g = g
        insideColumns = (0..<g.kernel.w).map { g.insideColumns(kj: $0) }
    }

    /// A run of output positions along one output row: image n (its first element at
    /// `image`), row oy, columns ox..<ox + count, at column t of a panel.
    struct Run {
        let image, oy, ox, count, t: Int
    }

    /// The runs of output positions `positions`, in order.
    func runs(_ positions: Range<Int>) -> [Run] {
        var runs: [Run] = []
        var q = positions.lowerBound
        while q < positions.upperBound {
            let (n, inImage) = q.quotientAndRemainder(dividingBy: g.length)
            let (oy, ox) = inImage.quotientAndRemainder(dividingBy: g.outWidth)
            let count = min(g.outWidth - ox, positions.upperBound - q)
            runs.append(Run(image: n * g.channels * g.height * g.width, oy: oy, ox: ox, count: count, t: q - positions.lowerBound))
            q += count
        }
        return runs
    }

    /// panel[p·width + t] = patches[rows.lowerBound + p, q] for the positions q the runs
    /// cover (t = q − their first), zeros from the runs' end to `width`.
    func unfold<T: FloatElement>(_ x: UnsafePointer<T>, rows: Range<Int>, runs: [Run], into panel: UnsafeMutablePointer<T>, width: Int) {
        let (kh, kw, plane) = (g.kernel.h, g.kernel.w, g.height * g.width)
        let (sh, sw, dh, dw, ph, pw) = (g.stride.h, g.stride.w, g.dilation.h, g.dilation.w, g.padding.h, g.padding.w)
        let filled = runs.last.map { $0.t + $0.count } ?? 0
        for (p, r) in rows.enumerated() {
            let (c, tap) = r.quotientAndRemainder(dividingBy: kh * kw)
            let (i, j) = tap.quotientAndRemainder(dividingBy: kw)
            let inside = insideColumns[j]
            let row = panel + p * width
            let channel = x + c * plane + j * dw - pw
            for run in runs {
                let iy = run.oy * sh + i * dh - ph
                let target = row + run.t - run.ox
                let end = run.ox + run.count
                guard iy >= 0 && iy < g.height else {
                    for column in run.ox..<end { target[column] = 0 }
                    continue
                }
                let first = min(max(run.ox, inside.lowerBound), end), last = max(first, min(end, inside.upperBound))
                for column in run.ox..<first { target[column] = 0 }
                let source = channel + run.image + iy * g.width
                if sw == 1 {
                    for column in first..<last { target[column] = source[column] }
                } else {
                    for column in first..<last { target[column] = source[column * sw] }
                }
                for column in last..<end { target[column] = 0 }
            }
            for t in filled..<width { row[t] = 0 }
        }
    }

    /// y[n, o, p] = block[(o − channels.lowerBound)·ld + q − positions.lowerBound] for
    /// q = n·L + p in `positions` and o in `channels` (y is [N, outChannels, L]).
    func scatterProduct<T>(_ block: UnsafePointer<T>, ld: Int, channels: Range<Int>, positions: Range<Int>, outChannels: Int,
                           into y: UnsafeMutablePointer<T>) {
        var q = positions.lowerBound
        while q < positions.upperBound {
            let (n, p) = q.quotientAndRemainder(dividingBy: g.length)
            let run = min(g.length - p, positions.upperBound - q)
            for o in channels {
                (y + (n * outChannels + o) * g.length + p).update(from: block + (o - channels.lowerBound) * ld + q - positions.lowerBound,
                                                                  count: run)
            }
            q += run
        }
    }
}
