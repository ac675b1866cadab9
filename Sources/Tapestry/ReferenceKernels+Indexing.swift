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
                    precondition(k >= 0 && k < axisSize, "gather: index \(k) out of range for an axis of size \(axisSize)")
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
                    precondition(k >= 0 && k < axisSize, "scatterAdd: index \(k) out of range for an axis of size \(axisSize)")
                    into[(o &* axisSize &+ k) &* inner &+ i] += src[row &+ i]
                }
            }
        }
    }

    public func im2col<T: FloatElement>(_ x: UnsafePointer<T>, _ cols: UnsafeMutablePointer<T>, _ g: PatchGeometry) {
        walkPatches(g) { colIndex, imageIndex in cols[colIndex] = imageIndex.map { x[$0] } ?? 0 }
    }

    public func col2im<T: FloatElement>(_ cols: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>, _ g: PatchGeometry) {
        x.initialize(repeating: 0, count: g.batch * g.channels * g.height * g.width)
        walkPatches(g) { colIndex, imageIndex in
            if let i = imageIndex { x[i] += cols[colIndex] }
        }
    }
}

/// Visits every entry of the column matrix [N, C·kh·kw, oh·ow] with the flat index of the
/// image element it reads, or nil where the window hangs over the zero padding.
@inline(__always)
func walkPatches(_ g: PatchGeometry, _ body: (Int, Int?) -> Void) {
    let (oh, ow) = (g.outHeight, g.outWidth)
    let plane = g.height &* g.width
    var col = 0
    for n in 0..<g.batch {
        for c in 0..<g.channels {
            let image = (n &* g.channels &+ c) &* plane
            for ki in 0..<g.kernel.h {
                for kj in 0..<g.kernel.w {
                    for oy in 0..<oh {
                        let y = oy &* g.stride.h &- g.padding.h &+ ki &* g.dilation.h
                        let rowInside = y >= 0 && y < g.height
                        for ox in 0..<ow {
                            let x = ox &* g.stride.w &- g.padding.w &+ kj &* g.dilation.w
                            body(col, rowInside && x >= 0 && x < g.width ? image &+ y &* g.width &+ x : nil)
                            col &+= 1
                        }
                    }
                }
            }
        }
    }
}
