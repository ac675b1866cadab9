/// Reference indexing kernels: gather, scatter-add, and the im2col/col2im pair behind
/// convolution, pooling and unfold.

extension Backend {
    public func gather<T: TensorElement>(_ x: UnsafePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>,
                                         _ out: UnsafeMutablePointer<T>, outer: Int, indexAxisSize: Int, inner: Int) {
        for o in 0..<outer {
            for j in 0..<indexAxisSize {
                let row = (o &* indexAxisSize &+ j) &* inner
                for i in 0..<inner {
                    let k = Int(index[row &+ i])
                    check(k >= 0 && k < axisSize, "gather: index \(k) out of range for an axis of size \(axisSize)")
                    out[row &+ i] = x[(o &* axisSize &+ k) &* inner &+ i]
                }
            }
        }
    }

    public func scatterAdd<T: TensorElement>(into: UnsafeMutablePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>,
                                             _ src: UnsafePointer<T>, outer: Int, indexAxisSize: Int, inner: Int) {
        for o in 0..<outer {
            for j in 0..<indexAxisSize {
                let row = (o &* indexAxisSize &+ j) &* inner
                for i in 0..<inner {
                    let k = Int(index[row &+ i])
                    check(k >= 0 && k < axisSize, "scatterAdd: index \(k) out of range for an axis of size \(axisSize)")
                    into[(o &* axisSize &+ k) &* inner &+ i] += src[row &+ i]
                }
            }
        }
    }

    public func im2col<T: FloatElement>(_ x: UnsafePointer<T>, _ cols: UnsafeMutablePointer<T>, _ g: PatchGeometry,
                                        rowStride: Int, imageStride: Int) {
        let padded = PaddedPlanes(g, rowStride: rowStride, imageStride: imageStride, "im2col")
        let (image, columns) = (UnsafeSendable(x), UnsafeSendable(cols))
        padded.forEachPlane { c, n, scratch in
            let source = padded.read(image.value + padded.planeOffset(c: c, n: n), into: scratch)
            padded.forEachWindowRow(c: c, n: n) { window, row in
                let (from, to) = (source + window, columns.value + row)
                if g.stride.w == 1 {
                    for ox in 0..<g.outWidth { to[ox] = from[ox] }
                } else {
                    for ox in 0..<g.outWidth { to[ox] = from[ox * g.stride.w] }
                }
            }
        }
    }

    public func col2im<T: FloatElement>(_ cols: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>, _ g: PatchGeometry,
                                        rowStride: Int, imageStride: Int) {
        let padded = PaddedPlanes(g, rowStride: rowStride, imageStride: imageStride, "col2im")
        let (image, columns) = (UnsafeSendable(x), UnsafeSendable(cols))
        padded.forEachPlane { c, n, scratch in
            let plane = image.value + padded.planeOffset(c: c, n: n)
            let sums = padded.zeroedSums(for: plane, in: scratch)
            padded.forEachWindowRow(c: c, n: n) { window, row in
                let (from, to) = (columns.value + row, sums + window)
                if g.stride.w == 1 {
                    for ox in 0..<g.outWidth { to[ox] += from[ox] }
                } else {
                    for ox in 0..<g.outWidth { to[ox * g.stride.w] += from[ox] }
                }
            }
            padded.write(sums: sums, to: plane)
        }
    }
}

/// The image planes [N·C, H, W] of an im2col or col2im, each seen zero padded by (ph, pw) on
/// every side: an (H + 2ph) × (W + 2pw) plane in which every window lies whole, so the
/// copies run without bounds checks. With padding, a plane is read through (or summed into)
/// a scratch copy; without, in place. Planes are handed out in groups of about 16K output
/// elements per work item.
struct PaddedPlanes {
    let g: PatchGeometry
    let height, width: Int
    /// Patch row r = (c, i, j) of image n at output position p lies at n·imageStride + r·rowStride + p.
    let rowStride, imageStride: Int
    var isPadded: Bool { g.padding != (0, 0) }

    init(_ g: PatchGeometry, rowStride: Int, imageStride: Int, _ op: StaticString) {
        check(rowStride >= g.length && (g.batch == 1 || imageStride >= g.length),
              "\(op): rows \(rowStride) and images \(imageStride) apart for \(g.length) positions")
        (self.g, self.rowStride, self.imageStride) = (g, rowStride, imageStride)
        (height, width) = (g.height + 2 * g.padding.h, g.width + 2 * g.padding.w)
    }

    /// Where channel c of image n starts in the images [N, C, H, W].
    func planeOffset(c: Int, n: Int) -> Int { (n * g.channels + c) * g.height * g.width }

    /// Calls `body(window, row)` for each kernel tap (i, j) and output row oy of channel c of
    /// image n: `window` is where the tap of the row's first window lies in a padded plane,
    /// `row` where the row's patch values start in the column matrix.
    @inline(__always)
    func forEachWindowRow(c: Int, n: Int, _ body: (_ window: Int, _ row: Int) -> Void) {
        var row = n * imageStride + c * g.kernel.h * g.kernel.w * rowStride
        for i in 0..<g.kernel.h {
            for j in 0..<g.kernel.w {
                let tap = i * g.dilation.h * width + j * g.dilation.w
                for oy in 0..<g.outHeight { body(tap + oy * g.stride.h * width, row + oy * g.outWidth) }
                row += rowStride
            }
        }
    }

    /// Runs `body(c, n, scratch)` for every channel c of every image n, channel by channel
    /// (the images' rows of a channel's patches are written together when they sit side by
    /// side), `scratch` holding a padded plane.
    func forEachPlane<T: FloatElement>(_ body: @Sendable (Int, Int, UnsafeMutablePointer<T>) -> Void) {
        let planes = g.batch * g.channels, perPlane = g.kernel.h * g.kernel.w * g.length
        let planesPerItem = max(1, (1 << 14) / max(1, perPlane)), items = (planes + planesPerItem - 1) / planesPerItem
        let scratchCount = isPadded ? height * width : 0
        Parallel.forEach(items, parallel: planes * perPlane > 1 << 16) { item in
            // Zeroed once: a read plane's border stays zero, only its interior is rewritten.
            let scratch = UnsafeMutablePointer<T>.allocate(capacity: scratchCount)
            scratch.initialize(repeating: 0, count: scratchCount)
            defer { scratch.deallocate() }
            for plane in item * planesPerItem..<min(planes, (item + 1) * planesPerItem) {
                let (c, n) = plane.quotientAndRemainder(dividingBy: g.batch)
                body(c, n, scratch)
            }
        }
    }

    /// The padded plane of `image` ([H, W]): `scratch` (whose border is zero) with the image
    /// copied into its interior, or the image itself.
    func read<T: FloatElement>(_ image: UnsafePointer<T>, into scratch: UnsafeMutablePointer<T>) -> UnsafePointer<T> {
        guard isPadded else { return image }
        for y in 0..<g.height { (scratch + (y + g.padding.h) * width + g.padding.w).update(from: image + y * g.width, count: g.width) }
        return UnsafePointer(scratch)
    }

    /// A zeroed padded plane to sum the windows of `image` into: `scratch`, or the image itself
    /// (zeroed whole: the sums of the previous plane fill it).
    func zeroedSums<T: FloatElement>(for image: UnsafeMutablePointer<T>, in scratch: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        let plane = isPadded ? scratch : image
        plane.initialize(repeating: 0, count: height * width)
        return plane
    }

    /// Copies the image's part of a padded plane of sums into `image` (nothing without padding).
    func write<T: FloatElement>(sums: UnsafeMutablePointer<T>, to image: UnsafeMutablePointer<T>) {
        guard isPadded else { return }
        for y in 0..<g.height { (image + y * g.width).update(from: sums + (y + g.padding.h) * width + g.padding.w, count: g.width) }
    }
}
