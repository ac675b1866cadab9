/// Direct convolution for stride 1 and dilation 1, with no im2col: the input is read in
/// place, zero-padded once (the "implicit gemm" of cuDNN; Chetlur et al., "cuDNN: Efficient
/// Primitives for Deep Learning", 2014).
///
/// Pad every image by (ph, pw) into an Hp × Wp plane and lay the batch's planes end to end
/// in each channel (`SpanLayout`). Output pixel (n, y, x) is then the span position
/// s = n·Hp·Wp + y·Wp + x, and the tap (c, i, j) of its window lies a fixed distance
/// δ = c·N·Hp·Wp + i·Wp + j further along, whatever the pixel:
///
///     y[o, s] = Σ_{c,i,j} w[o, c, i, j] · P[s + δ(c, i, j)]
///
/// a matrix product whose B row for tap t is the padded input read from δ_t on. The
/// blocked gemm's micro-kernel computes it on 2W consecutive span positions at once,
/// reading those rows where they lie; positions between an image's rows (x ≥ ow) and
/// between images (y ≥ oh) are computed too and dropped.
///
/// The input gradient is the same product on the output gradient padded by k − 1 − p, with
/// the kernel flipped and its two channel axes swapped; the weight gradient is one gemm per
/// tap (i, j), between the output gradient and the padded input shifted by i·Wp + j.

/// Images [N, C, h, w], each zero-padded into an Hp × Wp plane at (top, left), the batch's
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
        buffer.initialize(repeating: 0, count: count(slack: slack))
        let (source, target) = (UnsafeSendable(images), UnsafeSendable(buffer))
        Parallel.forEach(batch * channels, parallel: batch * channels * height * width > 1 << 16) { index in
            let (n, c) = index.quotientAndRemainder(dividingBy: channels)
            let from = source.value + index * height * width
            let to = target.value + c * channelStride + n * plane + top * paddedWidth + left
            for y in 0..<height { (to + y * paddedWidth).update(from: from + y * width, count: width) }
        }
    }

    /// Reads images [N, C, h, w] out of a buffer in this layout whose channels are
    /// `channelStride` apart (the inverse of `embed`).
    func extract<T: FloatElement>(_ buffer: UnsafePointer<T>, channelStride stride: Int, into images: UnsafeMutablePointer<T>) {
        let (source, target) = (UnsafeSendable(buffer), UnsafeSendable(images))
        Parallel.forEach(batch * channels, parallel: batch * channels * height * width > 1 << 16) { index in
            let (n, c) = index.quotientAndRemainder(dividingBy: channels)
            let from = source.value + c * stride + n * plane + top * paddedWidth + left
            let to = target.value + index * height * width
            for y in 0..<height { (to + y * width).update(from: from + y * paddedWidth, count: width) }
        }
    }
}

/// out[o, s] = Σ_t weights[o, t] · input[s + taps[t]] for o < m, s < span: the blocked
/// gemm's 6 × 2W micro-kernel with its B rows read from the input at s + taps[t].
enum DirectConvolution {
    /// Rows of `out`: m rounded up to the micro-kernel's 6 rows.
    static func rows(_ m: Int) -> Int { (m + 5) / 6 * 6 }
    /// Columns of `out`: the span rounded up to 32, a multiple of the micro-kernel's 2W
    /// columns (32 for Float, 16 for Double).
    static func columns(_ span: Int) -> Int { (span + 31) / 32 * 32 }
    /// Zeros `input` needs after its last tap's reach (the last tile's overhang).
    static let slack = 32

    /// `weights` is [m, taps.count] row-major; `out` is [rows(m), ldo] with ldo ≥ columns(span);
    /// `input` is readable (and finite wherever a kept output reads it) up to
    /// columns(span) + max(taps).
    static func run<T: FloatElement>(m: Int, weights: UnsafePointer<T>, taps: [Int], input: UnsafePointer<T>, span: Int,
                                     out: UnsafeMutablePointer<T>, ldo: Int) {
        if T.self == Float.self {
            Kernel<SIMD16<Float>>.run(m: m, weights: rebound(weights), taps: taps, input: rebound(input), span: span,
                                      out: rebound(out), ldo: ldo)
        } else {
            Kernel<SIMD8<Double>>.run(m: m, weights: rebound(weights), taps: taps, input: rebound(input), span: span,
                                      out: rebound(out), ldo: ldo)
        }
    }

    enum Kernel<V: SIMD & SendableMetatype> where V.Scalar: FloatElement {
        typealias T = V.Scalar
        typealias Gemm = BlockedGemm<V>

        static func run(m: Int, weights: UnsafePointer<T>, taps: [Int], input: UnsafePointer<T>, span: Int,
                        out: UnsafeMutablePointer<T>, ldo: Int) {
            let (k, mPadded, kc, nr) = (taps.count, rows(m), Gemm.kc, Gemm.nr)
            // Weights packed per block of kc taps, as the gemm packs A: the block of tap pc at pc·mPadded.
            let packed = UnsafeMutablePointer<T>.allocate(capacity: mPadded * k)
            defer { packed.deallocate() }
            for pc in stride(from: 0, to: k, by: kc) {
                Gemm.packA(weights + pc, MatrixStrides(rows: k, columns: 1), m: m, kc: min(kc, k - pc), into: packed + pc * mPadded)
            }
            let tiles = columns(span) / nr
            let tilesPerItem = max(1, min(8, tiles / (4 * Parallel.threadCount)))
            let items = (tiles + tilesPerItem - 1) / tilesPerItem
            let shared = UnsafeSendable((UnsafePointer(packed), input, out))
            taps.withUnsafeBufferPointer { taps in
                let offsets = UnsafeSendable(taps.baseAddress!)
                Parallel.forEach(items, parallel: mPadded * k * span >= 1 << 18) { item in
                    let (packed, input, out) = shared.value
                    let firstTile = item * tilesPerItem, lastTile = min(tiles, firstTile + tilesPerItem)
                    for pc in stride(from: 0, to: k, by: kc) {
                        let kcCur = min(kc, k - pc)
                        for tile in firstTile..<lastTile {
                            let rows = OffsetRows(base: input + tile * nr, offsets: offsets.value + pc)
                            for ir in stride(from: 0, to: mPadded, by: Gemm.mr) {
                                Gemm.microKernel(kc: kcCur, a: packed + pc * mPadded + ir * kcCur, b: rows,
                                                 c: out + ir * ldo + tile * nr, ldc: ldo, accumulate: pc > 0)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A panel read in place: row p at base + offsets[p].
struct OffsetRows<Scalar>: PanelRows {
    let base: UnsafePointer<Scalar>
    let offsets: UnsafePointer<Int>
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Scalar> { base + offsets[p] }
}
