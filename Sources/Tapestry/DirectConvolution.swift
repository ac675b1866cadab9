/// Direct convolution for stride 1 and dilation 1, with no im2col: the input is read in
/// place, zero-padded once (the "implicit gemm" of cuDNN; Chetlur et al., "cuDNN: Efficient
/// Primitives for Deep Learning", 2014).
///
/// Pad every image by (ph, pw) into an Hp × Wp plane and lay the batch's planes end to end
/// in each channel (`SpanLayout`). With Hp = H + ph and Wp = W + pw the padding is shared:
/// the zeros after a row are its right padding and the next row's left padding, those after
/// an image its bottom padding and the next plane's top. Output pixel (n, y, x) is then the
/// span position s = n·Hp·Wp + y·Wp + x, and the tap (c, i, j) of its window lies a fixed
/// distance δ = c·N·Hp·Wp + i·Wp + j further along, whatever the pixel:
///
///     y[o, s] = Σ_{c,i,j} w[o, c, i, j] · P[s + δ(c, i, j)]
///
/// a matrix product whose B row for tap t is the padded input read from δ_t on. The
/// blocked gemm's micro-kernel computes it on 4W consecutive span positions at once,
/// reading those rows where they lie; positions between an image's rows (x ≥ ow) and
/// between images (y ≥ oh) are computed too and dropped.
///
/// The input gradient is the same product on the output gradient padded by k − 1 − p, with
/// the kernel flipped and its two channel axes swapped. The weight gradient is, for each tap
/// (i, j), a product over the span between the output gradient G (at its pixels' positions,
/// zeros between) and the padded input laid out channels last, read from row i·Wp + j on:
///
///     dW[o, c, i, j] = Σ_s G[o, s] · Pᵀ[s + i·Wp + j, c]

/// Images [N, C, h, w], each at (top, left) in an Hp × Wp plane of zeros, the batch's
/// planes end to end within each channel: element (n, c, y, x) at
/// c·N·Hp·Wp + n·Hp·Wp + (y + top)·Wp + x + left.
struct SpanLayout {
    let batch, channels, height, width: Int
    let top, left: Int
    let paddedHeight, paddedWidth: Int

    var plane: Int { paddedHeight * paddedWidth }
    var channelStride: Int { batch * plane }
    /// Elements of a buffer holding the layout, with `slack` zeros after the last channel.
    func count(slack: Int) -> Int { channels * channelStride + slack }

    /// Writes images [N, C, h, w] into `buffer` (`count(slack:)` elements), zeros elsewhere.
    func embed<T: FloatElement>(_ images: UnsafePointer<T>, into buffer: UnsafeMutablePointer<T>, slack: Int) {
        let (source, target) = (UnsafeSendable(images), UnsafeSendable(buffer))
        Parallel.forEach(batch * channels, parallel: batch * channels * height * width > 1 << 16) { index in
            let (n, c) = index.quotientAndRemainder(dividingBy: channels)
            let from = source.value + index * height * width, to = target.value + c * channelStride + n * plane
            let right = paddedWidth - left - width
            to.initialize(repeating: 0, count: top * paddedWidth + left)
            for y in 0..<height {
                let row = to + (y + top) * paddedWidth + left
                row.update(from: from + y * width, count: width)
                (row + width).initialize(repeating: 0, count: y + 1 < height ? right + left : 0)
            }
            let end = (top + height) * paddedWidth - right
            (to + end).initialize(repeating: 0, count: plane - end)
        }
        (buffer + channels * channelStride).initialize(repeating: 0, count: slack)
    }

    /// Writes images [N, C, h, w] into `buffer` channels last: element (n, c, y, x) at row
    /// n·Hp·Wp + (y + top)·Wp + x + left, column c, rows `ld` ≥ C apart; zeros elsewhere,
    /// and in `slack` rows after the last plane.
    func embedChannelsLast<T: FloatElement>(_ images: UnsafePointer<T>, into buffer: UnsafeMutablePointer<T>, ld: Int, slack: Int) {
        (buffer + channelStride * ld).initialize(repeating: 0, count: slack * ld)
        let (source, target) = (UnsafeSendable(images), UnsafeSendable(buffer))
        Parallel.forEach(batch * paddedHeight, parallel: batch * channels * height * width > 1 << 16) { index in
            let (n, paddedY) = index.quotientAndRemainder(dividingBy: paddedHeight)
            let row = target.value + index * paddedWidth * ld
            row.initialize(repeating: 0, count: paddedWidth * ld)
            let y = paddedY - top
            guard y >= 0 && y < height else { return }
            let pixels = row + left * ld
            let from = source.value + (n * channels * height + y) * width, channelStep = height * width
            VectorRows.gatherColumns(from, rowStride: channelStep, rows: channels, columns: width) { x in pixels + x * ld }
        }
    }

    /// Reads images [N, C, h, w] out of a buffer in this layout whose channels are
    /// `channelStride` apart (the inverse of `embed`).
    func extract<T: FloatElement>(_ buffer: UnsafePointer<T>, channelStride stride: Int, into images: UnsafeMutablePointer<T>) {
        let (source, target) = (UnsafeSendable(buffer), UnsafeSendable(images))
        Parallel.forEach(channels, parallel: batch * channels * height * width > 1 << 16) { c in
            extract(source.value + c * stride, ld: stride, channels: c..<c + 1, positions: 0..<channelStride, into: target.value)
        }
    }

    /// Reads the pixels at positions `positions` of `channels` out of a block of this layout
    /// (channel `channels.lowerBound + r`, position p at `block[r·ld + p − positions.lowerBound]`)
    /// into images [N, C, h, w]; positions outside the images are skipped.
    func extract<T: FloatElement>(_ block: UnsafePointer<T>, ld: Int, channels: Range<Int>, positions: Range<Int>,
                                  into images: UnsafeMutablePointer<T>) {
        var s = positions.lowerBound
        while s < positions.upperBound {
            let (n, inPlane) = s.quotientAndRemainder(dividingBy: plane)
            let (row, column) = inPlane.quotientAndRemainder(dividingBy: paddedWidth)
            let (y, x) = (row - top, column - left)
            if y < 0 { s += -y * paddedWidth - column + left; continue }
            if y >= height { s += plane - inPlane + top * paddedWidth + left; continue }
            if x < 0 { s += -x; continue }
            if x >= width { s += paddedWidth - column + left; continue }
            let run = min(width - x, positions.upperBound - s)
            for c in channels {
                (images + ((n * self.channels + c) * height + y) * width + x)
                    .update(from: block + (c - channels.lowerBound) * ld + s - positions.lowerBound, count: run)
            }
            s += run
        }
    }
}

/// y[o, s] = Σ_t weights[o, t] · input[s + taps[t]] for o < m, s < span: the blocked
/// gemm's 6 × 4W micro-kernel with its B rows read from the input at s + taps[t].
enum DirectConvolution {
    /// Rows computed for m output channels: m rounded up to the micro-kernel's 6 rows.
    static func rows(_ m: Int) -> Int { (m + 5) / 6 * 6 }
    /// Zeros `input` needs after its last tap's reach: the last tile's overhang, less than
    /// the micro-kernel's 4W columns (64 for Float, 32 for Double).
    static let slack = 64

    /// y[o, s] = Σ_t weights[o, t] · input[s + taps[t]] for s < span, written into the images of
    /// `output` (its channels are the m rows of `weights`, [m, taps.count] row-major; positions
    /// outside its images are dropped). `input` is readable (and finite wherever a kept output
    /// reads it) up to span + max(taps) + slack.
    static func run<T: FloatElement>(weights: UnsafePointer<T>, taps: [Int], input: UnsafePointer<T>, span: Int,
                                     into output: SpanLayout, images: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            Kernel<SIMD16<Float>>.run(weights: rebound(weights), taps: taps, input: rebound(input), span: span,
                                      into: output, images: rebound(images))
        } else {
            Kernel<SIMD8<Double>>.run(weights: rebound(weights), taps: taps, input: rebound(input), span: span,
                                      into: output, images: rebound(images))
        }
    }

    /// Span positions the weight gradient sums into one partial result: 16 of the
    /// micro-kernel's k blocks.
    static let chunkLength = 2048

    /// Columns of a channels-last buffer for `channels`: a multiple of the micro-kernel's 4W.
    static func channelsLast(_ channels: Int) -> Int { (channels + 63) / 64 * 64 }

    /// out[t, o, c] = Σ_{s < span} gradient[o, s] · input[s + shifts[t], c] for o < m, c < n:
    /// `gradient` is [rows(m), ldg] (rows from m on zero), `input` channels last with rows
    /// `ld` = channelsLast(n) apart (columns from n on zero), `out` [shifts.count, rows(m), ld].
    static func weightGradient<T: FloatElement>(m: Int, gradient: UnsafePointer<T>, ldg: Int, input: UnsafePointer<T>, ld: Int,
                                                shifts: [Int], span: Int, out: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            Kernel<SIMD16<Float>>.weightGradient(m: m, gradient: rebound(gradient), ldg: ldg, input: rebound(input), ld: ld,
                                                 shifts: shifts, span: span, out: rebound(out))
        } else {
            Kernel<SIMD8<Double>>.weightGradient(m: m, gradient: rebound(gradient), ldg: ldg, input: rebound(input), ld: ld,
                                                 shifts: shifts, span: span, out: rebound(out))
        }
    }

    enum Kernel<V: SIMD & SendableMetatype> where V.Scalar: FloatElement {
        typealias T = V.Scalar
        typealias Gemm = BlockedGemm<V>

        /// Each work item computes its tiles × panels block into a scratch block, then copies the
        /// block's image pixels out.
        static func run(weights: UnsafePointer<T>, taps: [Int], input: UnsafePointer<T>, span: Int,
                        into output: SpanLayout, images: UnsafeMutablePointer<T>) {
            let (m, k, kc, nr, mr) = (output.channels, taps.count, Gemm.kc, Gemm.nr, Gemm.mr)
            // The weights packed k-major six rows a panel (the last one zero padded), as the gemm packs A.
            let packedBuffer = PooledBuffer<T>(rows(m) * k)
            defer { packedBuffer.release() }
            Gemm.packA(weights, MatrixStrides(rows: k, columns: 1), m: m, kc: k, into: packedBuffer.pointer)
            let grid = WorkGrid(tiles: (span + nr - 1) / nr, panels: rows(m) / mr)
            let shared = UnsafeSendable((UnsafePointer(packedBuffer.pointer), input, images))
            taps.withUnsafeBufferPointer { taps in
                let offsets = UnsafeSendable(taps.baseAddress!)
                Parallel.forEach(grid.items, parallel: rows(m) * k * span >= 1 << 18) { item in
                    let (packed, input, images) = shared.value
                    let (tiles, panels) = grid.ranges(item)
                    let ld = tiles.count * nr
                    let blockBuffer = PooledBuffer<T>(panels.count * mr * ld)
                    defer { blockBuffer.release() }
                    let block = blockBuffer.pointer
                    for pc in stride(from: 0, to: k, by: kc) {
                        let kcCur = min(kc, k - pc)
                        for (column, tile) in tiles.enumerated() {
                            let rows = OffsetRows(base: input + tile * nr, offsets: offsets.value + pc)
                            for (row, panel) in panels.enumerated() {
                                Gemm.microKernel(kc: kcCur, a: PackedColumns(base: packed + (panel * k + pc) * mr), b: rows,
                                                 c: block + row * mr * ld + column * nr, ldc: ld, accumulate: pc > 0)
                            }
                        }
                    }
                    let channels = panels.lowerBound * mr..<min(m, panels.upperBound * mr)
                    let positions = tiles.lowerBound * nr..<min(span, tiles.upperBound * nr)
                    output.extract(block, ld: ld, channels: channels, positions: positions, into: images)
                }
            }
        }

        /// The span is cut into chunks of `chunkLength` positions, each summed into its own
        /// partial result, then the partials are added in chunk order (the same bits for any
        /// thread count). Work items are runs of chunks × groups of output panels: each reads its
        /// chunk of the input once for all taps, where items over whole taps would each stream all
        /// of it.
        static func weightGradient(m: Int, gradient: UnsafePointer<T>, ldg: Int, input: UnsafePointer<T>, ld: Int,
                                   shifts: [Int], span: Int, out: UnsafeMutablePointer<T>) {
            let (mPadded, kc, nr, mr, taps) = (rows(m), Gemm.kc, Gemm.nr, Gemm.mr, shifts.count)
            let chunks = (span + chunkLength - 1) / chunkLength, partialCount = taps * mPadded * ld
            let partialsBuffer = chunks > 1 ? PooledBuffer<T>(chunks * partialCount) : nil
            defer { partialsBuffer?.release() }
            let partials = partialsBuffer?.pointer ?? out
            let grid = WorkGrid(tiles: chunks, panels: mPadded / mr)
            let shared = UnsafeSendable((gradient, input, partials))
            shifts.withUnsafeBufferPointer { shifts in
                let shifts = UnsafeSendable(shifts.baseAddress!)
                Parallel.forEach(grid.items, parallel: mPadded * ld * taps * span >= 1 << 18) { item in
                    let (gradient, input, partials) = shared.value
                    let (chunkRange, panels) = grid.ranges(item)
                    for chunk in chunkRange {
                        let (first, end) = (chunk * chunkLength, min(span, (chunk + 1) * chunkLength))
                        let partial = partials + chunk * partialCount
                        for s0 in stride(from: first, to: end, by: kc) {
                            let kcCur = min(kc, end - s0)
                            for t in 0..<taps {
                                for jc in stride(from: 0, to: ld, by: nr) {
                                    let rows = StridedRows(base: input + (s0 + shifts.value[t]) * ld + jc, stride: ld)
                                    for panel in panels {
                                        Gemm.microKernel(kc: kcCur, a: StridedColumns(base: gradient + panel * mr * ldg + s0, stride: ldg),
                                                         b: rows, c: partial + (t * mPadded + panel * mr) * ld + jc, ldc: ld,
                                                         accumulate: s0 > first)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            guard let partialsBuffer else { return }
            let sums = UnsafeSendable((UnsafePointer(partialsBuffer.pointer), out))
            Parallel.forEach(taps * mPadded, parallel: chunks * partialCount > 1 << 16) { row in
                let (partials, out) = sums.value
                let target = out + row * ld
                target.update(from: partials + row * ld, count: ld)
                for chunk in 1..<chunks {
                    let source = partials + chunk * partialCount + row * ld
                    for c in 0..<ld { target[c] += source[c] }
                }
            }
        }
    }
}

/// A tiles × panels grid of micro-kernel calls cut into rectangles, about 8 per thread: runs
/// of up to 8 tiles when there are many tiles, else groups of panels too.
struct WorkGrid {
    let tiles, panels: Int
    let tilesPerItem, panelsPerItem: Int
    let tileGroups, panelGroups: Int

    init(tiles: Int, panels: Int) {
        let target = 8 * Parallel.threadCount
        (self.tiles, self.panels) = (tiles, panels)
        tilesPerItem = max(1, min(8, tiles / target))
        tileGroups = (tiles + tilesPerItem - 1) / tilesPerItem
        let wantedPanelGroups = min(panels, max(1, (target + tileGroups - 1) / tileGroups))
        panelsPerItem = (panels + wantedPanelGroups - 1) / wantedPanelGroups
        panelGroups = (panels + panelsPerItem - 1) / panelsPerItem
    }

    var items: Int { tileGroups * panelGroups }

    func ranges(_ item: Int) -> (tiles: Range<Int>, panels: Range<Int>) {
        let (panelGroup, tileGroup) = item.quotientAndRemainder(dividingBy: tileGroups)
        let firstTile = tileGroup * tilesPerItem, firstPanel = panelGroup * panelsPerItem
        return (firstTile..<min(tiles, firstTile + tilesPerItem), firstPanel..<min(panels, firstPanel + panelsPerItem))
    }
}

/// A panel read in place: row p at base + offsets[p].
struct OffsetRows<Scalar>: PanelRows {
    let base: UnsafePointer<Scalar>
    let offsets: UnsafePointer<Int>
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Scalar> { base + offsets[p] }
}
