/// Convolution on channel-blocked images, for small feature maps: stride 1, dilation 1, one
/// group (the layout of oneDNN's direct convolution, "nChw16c"; Georganas et al., "Anatomy of
/// High-Performance Deep Learning Convolutions on SIMD Architectures", SC 2018).
///
/// With W the vector width (16 for Float, 8 for Double), the input is zero-padded and laid
/// out in blocks of W channels, channels innermost, X[cb][n][y][x][cc]; the weight in blocks
/// of W input × 2W output channels, output channels innermost, K[ob][cb][i][j][cc][oo]. A
/// micro-kernel computes 8 pixels of one output row × 2W output channels in 16 vector
/// accumulators:
///
///     y[n, ob·2W + oo, y, x0 + q] = Σ_{cb,i,j,cc} X[cb][n][y + i][x0 + q + j][cc] · K[ob][cb][i][j][cc][oo]
///
/// each step loading two vectors of the weight and broadcasting 8 input values. Every pixel
/// computed is an output pixel, but in the last block of a row whose width is not a multiple
/// of 8 — where `DirectConvolution`'s span also computes the padding between rows and
/// images: 21% of the work on 8 × 8 maps padded by 1, 11% on 16 × 16.
///
/// Each input block's kh·kw·W products are summed from zero and then added to the output, as
/// a gemm sums its blocks of k. One running sum over all C·kh·kw products instead moved the
/// Float32 backbone gradients of the DETR and SMCA fixtures by 0.1–0.4%. Their near-zero
/// pre-ReLU activations (see `ParityWaiver`) changed sides; with block sums, the gradients
/// stay within 6·10⁻⁵ and 4·10⁻⁴ on OpenBLAS.
///
/// Channels beyond C and output channels beyond O are zeros of the packed weight. conv2d runs
/// its forward pass and its input gradient this way (`ConvolutionLayout.path`); the weight
/// gradient stays im2col's.
struct BlockedConvolution: Sendable {
    let batch, channels, height, width: Int
    let outChannels: Int
    let kernel: (h: Int, w: Int)
    let padding: (h: Int, w: Int)

    /// Output pixels a micro-kernel computes, along one row.
    static let pixels = 8

    var outHeight: Int { height + 2 * padding.h - kernel.h + 1 }
    var outWidth: Int { width + 2 * padding.w - kernel.w + 1 }
    var blocksPerRow: Int { (outWidth + Self.pixels - 1) / Self.pixels }
    /// Rows and columns of a padded image: every window of every block lies inside.
    var paddedHeight: Int { outHeight + kernel.h - 1 }
    var paddedWidth: Int { blocksPerRow * Self.pixels + kernel.w - 1 }

    /// y = conv(x, w): x [N, C, H, W], w [O, C, kh, kw], y [N, O, oh, ow].
    func forward<T: FloatElement>(x: UnsafePointer<T>, w: UnsafePointer<T>, y: UnsafeMutablePointer<T>) {
        run(x: x, w: w, weightsFlipped: false, y: y)
    }

    /// The input gradient of a convolution whose output gradient is this layout's input:
    /// dx = conv(dy, w flipped, its channel axes swapped) with padding k − 1 − p, for w the
    /// convolution's weight ([channels, outChannels, kh, kw] in this layout's terms).
    func inputGradient<T: FloatElement>(dy: UnsafePointer<T>, w: UnsafePointer<T>, dx: UnsafeMutablePointer<T>) {
        run(x: dy, w: w, weightsFlipped: true, y: dx)
    }

    private func run<T: FloatElement>(x: UnsafePointer<T>, w: UnsafePointer<T>, weightsFlipped: Bool, y: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            Kernel<SIMD16<Float>>(layout: self).run(x: rebound(x), w: rebound(w), weightsFlipped: weightsFlipped, y: rebound(y))
        } else {
            Kernel<SIMD8<Double>>(layout: self).run(x: rebound(x), w: rebound(w), weightsFlipped: weightsFlipped, y: rebound(y))
        }
    }

    struct Kernel<V: SIMD & SendableMetatype> where V.Scalar: FloatElement {
        typealias T = V.Scalar
        let layout: BlockedConvolution
        /// Channels per input block (W) and per output block (2W).
        var inBlock: Int { V.scalarCount }
        var outBlock: Int { 2 * V.scalarCount }
        var inBlocks: Int { (layout.channels + inBlock - 1) / inBlock }
        var outBlocks: Int { (layout.outChannels + outBlock - 1) / outBlock }
        var paddedPlane: Int { layout.paddedHeight * layout.paddedWidth }
        /// Taps (cb, i, j) of an output block's packed weight.
        var taps: Int { inBlocks * layout.kernel.h * layout.kernel.w }

        /// Work items are an output block × a run of pixel blocks, at least 4 per thread. An item
        /// packs its output block's weight, which stays in L2 while the micro-kernel streams it
        /// for each pixel block.
        func run(x: UnsafePointer<T>, w: UnsafePointer<T>, weightsFlipped: Bool, y: UnsafeMutablePointer<T>) {
            let l = layout
            let inputBuffer = PooledBuffer<T>(inBlocks * l.batch * paddedPlane * inBlock)
            defer { inputBuffer.release() }
            packInput(x, into: inputBuffer.pointer)
            // Where tap (i, j) reads in an input block, from a block's first pixel.
            var offsets: [Int] = []
            for i in 0..<l.kernel.h {
                for j in 0..<l.kernel.w { offsets.append((i * l.paddedWidth + j) * inBlock) }
            }
            let blocks = l.batch * l.outHeight * l.blocksPerRow
            let wantedRuns = max(1, min(blocks, (4 * Parallel.threadCount + outBlocks - 1) / outBlocks))
            let perRun = max(1, (blocks + wantedRuns - 1) / wantedRuns), runs = (blocks + perRun - 1) / perRun
            let (sliceSize, tapsPerBlock) = (taps * inBlock * outBlock, l.kernel.h * l.kernel.w)
            let shared = UnsafeSendable((UnsafePointer(inputBuffer.pointer), w, y))
            offsets.withUnsafeBufferPointer { offsets in
                let offsets = UnsafeSendable(offsets.baseAddress!)
                Parallel.forEach(outBlocks * runs, parallel: sliceSize * blocks * BlockedConvolution.pixels >= 1 << 18) { item in
                    let (input, w, y) = shared.value
                    let (ob, run) = item.quotientAndRemainder(dividingBy: runs)
                    let sliceBuffer = PooledBuffer<T>(sliceSize)
                    defer { sliceBuffer.release() }
                    packWeights(w, flipped: weightsFlipped, outputBlock: ob, into: sliceBuffer.pointer)
                    withUnsafeTemporaryAllocation(of: T.self, capacity: BlockedConvolution.pixels * outBlock) { tile in
                        let tile = tile.baseAddress!
                        for block in run * perRun..<min(blocks, (run + 1) * perRun) {
                            let (row, xb) = block.quotientAndRemainder(dividingBy: l.blocksPerRow)
                            let (n, oy) = row.quotientAndRemainder(dividingBy: l.outHeight)
                            let x0 = xb * BlockedConvolution.pixels
                            let first = input + ((n * l.paddedHeight + oy) * l.paddedWidth + x0) * inBlock
                            for cb in 0..<inBlocks {
                                microKernel(taps: tapsPerBlock, weights: sliceBuffer.pointer + cb * tapsPerBlock * inBlock * outBlock,
                                            input: first + cb * l.batch * paddedPlane * inBlock, offsets: offsets.value, out: tile,
                                            adding: cb > 0)
                            }
                            for oo in 0..<min(outBlock, l.outChannels - ob * outBlock) {
                                let target = y + ((n * l.outChannels + ob * outBlock + oo) * l.outHeight + oy) * l.outWidth + x0
                                for q in 0..<min(BlockedConvolution.pixels, l.outWidth - x0) { target[q] = tile[q * outBlock + oo] }
                            }
                        }
                    }
                }
            }
        }

        /// out[q·2W + oo] (+)= Σ_t Σ_cc input[offsets[t] + q·W + cc] · weights[(t·W + cc)·2W + oo],
        /// the sum added to out's values when `adding`.
        @inline(__always)
        func microKernel(taps: Int, weights: UnsafePointer<T>, input: UnsafePointer<T>, offsets: UnsafePointer<Int>,
                         out: UnsafeMutablePointer<T>, adding: Bool) {
            let w = V.scalarCount, bytes = V.scalarCount * MemoryLayout<T>.stride
            var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
            var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
            var k = UnsafeRawPointer(weights)
            for t in 0..<taps {
                let x = input + offsets[t]
                for cc in 0..<w {
                    let k0 = k.loadUnaligned(as: V.self), k1 = k.loadUnaligned(fromByteOffset: bytes, as: V.self)
                    k += 2 * bytes
                    @inline(__always) func madd2(_ q: Int, _ r0: inout V, _ r1: inout V) {
                        let v = V(repeating: x[q &* w &+ cc])
                        VectorRows.madd(&r0, v, k0); VectorRows.madd(&r1, v, k1)
                    }
                    madd2(0, &c00, &c01); madd2(1, &c10, &c11); madd2(2, &c20, &c21); madd2(3, &c30, &c31)
                    madd2(4, &c40, &c41); madd2(5, &c50, &c51); madd2(6, &c60, &c61); madd2(7, &c70, &c71)
                }
            }
            let o = UnsafeMutableRawPointer(out)
            @inline(__always) func store(_ q: Int, _ a: V, _ b: V) {
                let (first, second) = (2 * q * bytes, (2 * q + 1) * bytes)
                o.storeBytes(of: adding ? o.load(fromByteOffset: first, as: V.self) + a : a, toByteOffset: first, as: V.self)
                o.storeBytes(of: adding ? o.load(fromByteOffset: second, as: V.self) + b : b, toByteOffset: second, as: V.self)
            }
            store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
            store(4, c40, c41); store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
        }

        /// X[cb][n][y + ph][x + pw][cc] = x[n, cb·W + cc, y, x], zeros elsewhere.
        func packInput(_ x: UnsafePointer<T>, into packed: UnsafeMutablePointer<T>) {
            let l = layout
            let (source, target) = (UnsafeSendable(x), UnsafeSendable(packed))
            Parallel.forEach(inBlocks * l.batch, parallel: l.batch * l.channels * l.height * l.width > 1 << 16) { index in
                let (cb, n) = index.quotientAndRemainder(dividingBy: l.batch)
                let plane = target.value + index * paddedPlane * inBlock
                plane.initialize(repeating: 0, count: paddedPlane * inBlock)
                let (channels, pixels) = (min(inBlock, l.channels - cb * inBlock), l.height * l.width)
                let images = source.value + (n * l.channels + cb * inBlock) * pixels
                for y in 0..<l.height {
                    let row = plane + ((y + l.padding.h) * l.paddedWidth + l.padding.w) * inBlock
                    VectorRows.gatherColumns(images + y * l.width, rowStride: pixels, rows: channels, columns: l.width) { x in
                        row + x * inBlock
                    }
                }
            }
        }

        /// Output block ob's part of the packed weight, K[cb][i][j][cc][oo] = w[o, c, i, j], or
        /// w[c, o, kh − 1 − i, kw − 1 − j] when flipped, with o = ob·2W + oo and c = cb·W + cc;
        /// zeros beyond O or C.
        func packWeights(_ w: UnsafePointer<T>, flipped: Bool, outputBlock ob: Int, into slice: UnsafeMutablePointer<T>) {
            let l = layout
            let (taps, c, o) = (l.kernel.h * l.kernel.w, l.channels, l.outChannels)
            let outputs = min(outBlock, o - ob * outBlock)
            let perBlock = taps * inBlock * outBlock
            for cb in 0..<inBlocks {
                let block = slice + cb * perBlock, inputs = min(inBlock, c - cb * inBlock)
                if outputs < outBlock || inputs < inBlock { block.initialize(repeating: 0, count: perBlock) }
                if flipped {
                    // Each input channel's taps of the block's outputs, rows of `taps` in w.
                    for cc in 0..<inputs {
                        VectorRows.gatherColumns(w + ((cb * inBlock + cc) * o + ob * outBlock) * taps, rowStride: taps,
                                                 rows: outputs, columns: taps) { t in block + ((taps - 1 - t) * inBlock + cc) * outBlock }
                    }
                } else {
                    // Rows of w are outputs, its columns (cc, t).
                    VectorRows.gatherColumns(w + (ob * outBlock * c + cb * inBlock) * taps, rowStride: c * taps,
                                             rows: outputs, columns: inputs * taps) { column in
                        let (cc, t) = column.quotientAndRemainder(dividingBy: taps)
                        return block + (t * inBlock + cc) * outBlock
                    }
                }
            }
        }
    }
}
