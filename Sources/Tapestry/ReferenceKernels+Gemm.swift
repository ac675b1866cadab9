/// The reference matrix product: a cache-blocked, register-tiled SIMD kernel in the
/// GotoBLAS style (Goto & van de Geijn, "Anatomy of High-Performance Matrix
/// Multiplication", ACM TOMS 2008).
///
/// C = A·B is computed in blocks: a KC×NR panel of B and an MC×KC block of A are packed
/// into contiguous buffers, then a 6×(4·W) micro-kernel keeps 24 SIMD accumulators of
/// width W in registers (W = 16 for Float, 8 for Double: 512-bit vectors) and streams the
/// packed panels. Fused multiply-add is used when the build targets a CPU that has it
/// (`-DTAPESTRY_FMA`, set together with `-target-cpu native` by the Makefile).

extension Backend {
    public func gemm<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                      a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                      c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        blockedGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                    c: c, ldc: ldc, accumulate: accumulate, threaded: true)
    }

    public func gemmOnThisThread<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                                  a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                                  c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        blockedGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                    c: c, ldc: ldc, accumulate: accumulate, threaded: false)
    }

    private func blockedGemm<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                              a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                              c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool, threaded: Bool) {
        let shapeA = MatrixStrides(rows: transposeA ? 1 : lda, columns: transposeA ? lda : 1)
        let shapeB = MatrixStrides(rows: transposeB ? 1 : ldb, columns: transposeB ? ldb : 1)
        if T.self == Float.self {
            BlockedGemm<SIMD16<Float>>.run(m: m, n: n, k: k, a: rebound(a), shapeA, b: rebound(b), shapeB,
                                           c: rebound(c), ldc: ldc, accumulate: accumulate, threaded: threaded)
        } else {
            BlockedGemm<SIMD8<Double>>.run(m: m, n: n, k: k, a: rebound(a), shapeA, b: rebound(b), shapeB,
                                           c: rebound(c), ldc: ldc, accumulate: accumulate, threaded: threaded)
        }
    }

    public func gemv<T: FloatElement>(transpose: Bool, m: Int, n: Int, a: UnsafePointer<T>, lda: Int,
                                      x: UnsafePointer<T>, y: UnsafeMutablePointer<T>) {
        if transpose {
            y.initialize(repeating: 0, count: n)
            for i in 0..<m {
                let row = a + i &* lda, xi = x[i]
                for j in 0..<n { y[j] += xi * row[j] }
            }
        } else {
            for i in 0..<m {
                let row = a + i &* lda
                var s0 = T.zero, s1 = T.zero, s2 = T.zero, s3 = T.zero
                var j = 0
                while j &+ 4 <= n {
                    s0 += row[j] * x[j]; s1 += row[j &+ 1] * x[j &+ 1]
                    s2 += row[j &+ 2] * x[j &+ 2]; s3 += row[j &+ 3] * x[j &+ 3]
                    j &+= 4
                }
                while j < n { s0 += row[j] * x[j]; j &+= 1 }
                y[i] = (s0 + s1) + (s2 + s3)
            }
        }
    }
}


/// Reinterprets a pointer to a generic element as a pointer to the concrete type it is
/// known to be (after a `T.self == Float.self` test).
@inline(__always)
func rebound<T, U>(_ p: UnsafePointer<T>) -> UnsafePointer<U> { UnsafeRawPointer(p).assumingMemoryBound(to: U.self) }
@inline(__always)
func rebound<T, U>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<U> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: U.self) }

func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

/// Element (i, j) of a matrix lives at `base[i·rows + j·columns]`.
struct MatrixStrides {
    let rows: Int
    let columns: Int
}

enum BlockedGemm<V: SIMD & SendableMetatype> where V.Scalar: FloatElement {
    typealias T = V.Scalar
    static var mr: Int { 6 }
    static var nr: Int { 4 * V.scalarCount }
    static var kc: Int { 128 }
    static var mc: Int { 96 }
    static var nc: Int { 3072 }

    static func run(m: Int, n: Int, k: Int, a: UnsafePointer<T>, _ sa: MatrixStrides, b: UnsafePointer<T>,
                    _ sb: MatrixStrides, c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool, threaded: Bool = true) {
        guard m > 0 && n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i &* ldc).initialize(repeating: 0, count: n) } }
            return
        }
        let packedB = UnsafeMutablePointer<T>.allocate(capacity: kc * (min(nc, n) + nr))
        defer { packedB.deallocate() }
        let parallel = threaded && m * n * k >= 64 * 64 * 64
        let mBlocks = (m + mc - 1) / mc
        for jc in stride(from: 0, to: n, by: nc) {
            let ncCur = min(nc, n - jc)
            let panels = (ncCur + nr - 1) / nr
            for pc in stride(from: 0, to: k, by: kc) {
                let kcCur = min(kc, k - pc)
                packB(b + pc * sb.rows + jc * sb.columns, sb, kc: kcCur, n: ncCur, into: packedB)
                let addToC = accumulate || pc > 0
                // Work items: every A block, times a split of the B panels chosen so the
                // item count is a multiple of the thread count (no thread idles at the end).
                let splits = parallel ? Parallel.threadCount / gcd(mBlocks, Parallel.threadCount) : 1
                let panelsPerSplit = (panels + splits - 1) / splits
                let sharedB = UnsafeSendable(packedB), sharedC = UnsafeSendable(c)
                let aBase = UnsafeSendable(a)
                Parallel.forEach(mBlocks * splits, parallel: parallel) { item in
                    let ic = (item / splits) * mc, split = item % splits
                    let mcCur = min(mc, m - ic)
                    let firstPanel = split * panelsPerSplit, lastPanel = min(panels, firstPanel + panelsPerSplit)
                    guard firstPanel < lastPanel else { return }
                    let packedA = UnsafeMutablePointer<T>.allocate(capacity: (mc + mr) * kc)
                    defer { packedA.deallocate() }
                    packA(aBase.value + ic * sa.rows + pc * sa.columns, sa, m: mcCur, kc: kcCur, into: packedA)
                    for panel in firstPanel..<lastPanel {
                        let jr = panel * nr
                        for ir in stride(from: 0, to: mcCur, by: mr) {
                            tile(kc: kcCur, a: packedA + ir * kcCur, b: StridedRows(base: sharedB.value + panel * nr * kcCur, stride: nr),
                                 c: sharedC.value + (ic + ir) * ldc + jc + jr, ldc: ldc,
                                 rows: min(mr, mcCur - ir), columns: min(nr, ncCur - jr), accumulate: addToC)
                        }
                    }
                }
            }
        }
    }

    /// Packs a kc×n block of B into panels of `nr` columns, each stored k-major, zero padded.
    static func packB(_ b: UnsafePointer<T>, _ s: MatrixStrides, kc: Int, n: Int, into out: UnsafeMutablePointer<T>) {
        var dst = out
        for j0 in stride(from: 0, to: n, by: nr) {
            let width = min(nr, n - j0)
            for p in 0..<kc {
                let src = b + p * s.rows + j0 * s.columns
                if s.columns == 1 {
                    dst.update(from: src, count: width)
                } else {
                    for j in 0..<width { dst[j] = src[j * s.columns] }
                }
                for j in width..<nr { dst[j] = 0 }
                dst += nr
            }
        }
    }

    /// Packs an m×kc block of A into panels of `mr` rows, each stored k-major, zero padded.
    static func packA(_ a: UnsafePointer<T>, _ s: MatrixStrides, m: Int, kc: Int, into out: UnsafeMutablePointer<T>) {
        var dst = out
        for i0 in stride(from: 0, to: m, by: mr) {
            let height = min(mr, m - i0)
            for p in 0..<kc {
                for i in 0..<height { dst[i] = a[(i0 + i) * s.rows + p * s.columns] }
                for i in height..<mr { dst[i] = 0 }
                dst += mr
            }
        }
    }

    /// One mr×nr tile of C; edge tiles go through a scratch tile.
    @inline(__always)
    static func tile<Rows: PanelRows>(kc: Int, a: UnsafePointer<T>, b: Rows, c: UnsafeMutablePointer<T>, ldc: Int,
                     rows: Int, columns: Int, accumulate: Bool) where Rows.Scalar == T {
        if rows == mr && columns == nr {
            microKernel(kc: kc, a: PackedColumns(base: a), b: b, c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        withUnsafeTemporaryAllocation(of: T.self, capacity: mr * nr) { scratch in
            let s = scratch.baseAddress!
            microKernel(kc: kc, a: PackedColumns(base: a), b: b, c: s, ldc: nr, accumulate: false)
            for i in 0..<rows {
                for j in 0..<columns {
                    c[i * ldc + j] = accumulate ? c[i * ldc + j] + s[i * nr + j] : s[i * nr + j]
                }
            }
        }
    }

    /// C[6×4W] (+)= Apanel[6×kc]·Bpanel[kc×4W] with 24 vector accumulators; element (i, p)
    /// of the A panel is `a.element(i, p)`, row p of the B panel the 4W elements at
    /// `b.row(p)`. Each step loads 4 vectors and broadcasts 6 scalars for 24 fused
    /// multiply-adds, so the loads keep up with both FMA units even when the B rows are
    /// unaligned (a load across two cache lines costs two).
    @inline(__always)
    static func microKernel<Columns: PanelColumns, Rows: PanelRows>(kc: Int, a: Columns, b: Rows, c: UnsafeMutablePointer<T>,
                                                                    ldc: Int, accumulate: Bool)
        where Columns.Scalar == T, Rows.Scalar == T {
        let w = V.scalarCount * MemoryLayout<T>.stride
        var c00 = V(), c01 = V(), c02 = V(), c03 = V(), c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V(), c30 = V(), c31 = V(), c32 = V(), c33 = V()
        var c40 = V(), c41 = V(), c42 = V(), c43 = V(), c50 = V(), c51 = V(), c52 = V(), c53 = V()
        for p in 0..<kc {
            let bp = UnsafeRawPointer(b.row(p))
            let b0 = bp.loadUnaligned(as: V.self), b1 = bp.loadUnaligned(fromByteOffset: w, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 2 * w, as: V.self), b3 = bp.loadUnaligned(fromByteOffset: 3 * w, as: V.self)
            @inline(__always) func madd4(_ x: V, _ r0: inout V, _ r1: inout V, _ r2: inout V, _ r3: inout V) {
                VectorRows.madd(&r0, x, b0); VectorRows.madd(&r1, x, b1); VectorRows.madd(&r2, x, b2); VectorRows.madd(&r3, x, b3)
            }
            madd4(V(repeating: a.element(0, p)), &c00, &c01, &c02, &c03)
            madd4(V(repeating: a.element(1, p)), &c10, &c11, &c12, &c13)
            madd4(V(repeating: a.element(2, p)), &c20, &c21, &c22, &c23)
            madd4(V(repeating: a.element(3, p)), &c30, &c31, &c32, &c33)
            madd4(V(repeating: a.element(4, p)), &c40, &c41, &c42, &c43)
            madd4(V(repeating: a.element(5, p)), &c50, &c51, &c52, &c53)
        }
        @inline(__always) func store(_ row: Int, _ v: (V, V, V, V)) {
            let p = UnsafeMutableRawPointer(c + row * ldc)
            var r = v
            if accumulate {
                r.0 += p.loadUnaligned(as: V.self); r.1 += p.loadUnaligned(fromByteOffset: w, as: V.self)
                r.2 += p.loadUnaligned(fromByteOffset: 2 * w, as: V.self); r.3 += p.loadUnaligned(fromByteOffset: 3 * w, as: V.self)
            }
            p.storeBytes(of: r.0, as: V.self); p.storeBytes(of: r.1, toByteOffset: w, as: V.self)
            p.storeBytes(of: r.2, toByteOffset: 2 * w, as: V.self); p.storeBytes(of: r.3, toByteOffset: 3 * w, as: V.self)
        }
        store(0, (c00, c01, c02, c03)); store(1, (c10, c11, c12, c13)); store(2, (c20, c21, c22, c23))
        store(3, (c30, c31, c32, c33)); store(4, (c40, c41, c42, c43)); store(5, (c50, c51, c52, c53))
    }
}

/// Where the micro-kernel finds element (i, p) of its 6×kc panel of A.
protocol PanelColumns {
    associatedtype Scalar
    func element(_ i: Int, _ p: Int) -> Scalar
}

/// A panel packed k-major, 6 elements a step: (i, p) at base[6p + i].
struct PackedColumns<Scalar>: PanelColumns {
    let base: UnsafePointer<Scalar>
    @inline(__always) func element(_ i: Int, _ p: Int) -> Scalar { base[p &* 6 &+ i] }
}

/// Rows of A read in place, a fixed stride apart: (i, p) at base[i·stride + p].
struct StridedColumns<Scalar>: PanelColumns {
    let base: UnsafePointer<Scalar>
    let stride: Int
    @inline(__always) func element(_ i: Int, _ p: Int) -> Scalar { base[i &* stride &+ p] }
}

/// Where the micro-kernel finds row p of its kc×nr panel of B.
protocol PanelRows {
    associatedtype Scalar
    func row(_ p: Int) -> UnsafePointer<Scalar>
}

/// Rows a fixed stride apart: row p at base + p·stride.
struct StridedRows<Scalar>: PanelRows {
    let base: UnsafePointer<Scalar>
    let stride: Int
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Scalar> { base + p &* stride }
}
