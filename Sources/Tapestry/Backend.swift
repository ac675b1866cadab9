/// The primitive kernels every computation runs through: pure compute on raw buffers,
/// with no knowledge of gradients. Tensor operations and their derivative rules are
/// written once, above this protocol.
///
/// Every requirement has a default implementation in plain Swift (the reference kernels,
/// in the `ReferenceKernels*.swift` files). A backend overrides the ones it does better:
/// `OpenBLASBackend` routes gemm/gemv to CBLAS and linear algebra to LAPACKE.
///
/// Conventions: matrices are row-major; "rows" kernels work on `rows` contiguous runs of
/// `length` elements; strided operands are described by `StridedOperand`.
public protocol Backend: Sendable {
    var name: String { get }

    // Element-wise (ReferenceKernels+Elementwise.swift)
    /// y[i] = op(x[i]) over `count` contiguous elements.
    func unary<T: FloatElement>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int)
    /// out = a op b over `shape` (operands already broadcast to it); `out` is contiguous.
    func binary<T: TensorElement>(_ op: BinaryOp, _ a: StridedOperand<T>, _ b: StridedOperand<T>, _ out: UnsafeMutablePointer<T>, shape: [Int])
    /// out = (a op b) as a mask.
    func compare<T: TensorElement>(_ op: CompareOp, _ a: StridedOperand<T>, _ b: StridedOperand<T>, _ out: UnsafeMutablePointer<Bool8>, shape: [Int])
    /// out = cond ? a : b.
    func select<T: TensorElement>(_ cond: StridedOperand<Bool8>, _ a: StridedOperand<T>, _ b: StridedOperand<T>, _ out: UnsafeMutablePointer<T>, shape: [Int])
    /// Copies a strided source into a strided destination of the same shape.
    func copy<T: TensorElement>(_ src: StridedOperand<T>, to dst: UnsafeMutablePointer<T>, dstStrides: [Int], shape: [Int])
    /// Converts a strided source of one element type into a contiguous destination of another.
    func cast<S: TensorElement, D: TensorElement>(_ src: StridedOperand<S>, to dst: UnsafeMutablePointer<D>, shape: [Int])

    // Along rows (ReferenceKernels+Rows.swift): `rows` contiguous runs of `length`.
    /// out[r] = sum/max/min of row r.
    func reduceRows<T: TensorElement>(_ op: ReduceOp, _ x: UnsafePointer<T>, rows: Int, length: Int, _ out: UnsafeMutablePointer<T>)
    /// out[j] += Σ x[i] over every index i of `shape` that `outStrides` maps to j (stride 0
    /// along the summed axes): a sum over any axes, read in x's own order, without moving
    /// the summed axes last first. `out` holds the running totals (zeros to start).
    func accumulateSum<T: TensorElement>(_ x: StridedOperand<T>, into out: UnsafeMutablePointer<T>, outStrides: [Int], shape: [Int])
    /// out[r] = index of the first maximum (or minimum) of row r.
    func argReduceRows<T: TensorElement>(max: Bool, _ x: UnsafePointer<T>, rows: Int, length: Int, _ out: UnsafeMutablePointer<Int64>)
    /// softmax (or log-softmax) of each row: exp(x − max) / Σ exp(x − max).
    func softmaxRows<T: FloatElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, log: Bool, _ out: UnsafeMutablePointer<T>)
    /// The softmax derivative of each row: out = y ⊙ (g − Σ g ⊙ y), from the output y.
    func softmaxBackwardRows<T: FloatElement>(_ y: UnsafePointer<T>, _ g: UnsafePointer<T>, rows: Int, length: Int, _ out: UnsafeMutablePointer<T>)
    /// Inclusive prefix sums of each row.
    func cumsumRows<T: TensorElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, _ out: UnsafeMutablePointer<T>)
    /// Stable sort permutation of each row (NaN sorts as largest).
    func argsortRows<T: TensorElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, descending: Bool, _ out: UnsafeMutablePointer<Int64>)

    // Indexing (ReferenceKernels+Indexing.swift): contiguous [outer, axis, inner] layouts.
    /// out[o, j, i] = x[o, index[o, j, i], i].
    func gather<T: TensorElement>(_ x: UnsafePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>, _ out: UnsafeMutablePointer<T>, outer: Int, indexAxisSize: Int, inner: Int)
    /// into[o, index[o, j, i], i] += src[o, j, i].
    func scatterAdd<T: TensorElement>(into: UnsafeMutablePointer<T>, axisSize: Int, _ index: UnsafePointer<Int64>, _ src: UnsafePointer<T>, outer: Int, indexAxisSize: Int, inner: Int)
    /// Image patches to columns: x [N,C,H,W] → cols, patch row r = (c, i, j) of image n at
    /// output position p stored at n·imageStride + r·rowStride + p: [N, C·kh·kw, oh·ow] when
    /// rowStride = oh·ow and imageStride = C·kh·kw·oh·ow, the images' matrices side by side
    /// in one [C·kh·kw, N·oh·ow] when rowStride = N·oh·ow and imageStride = oh·ow.
    func im2col<T: FloatElement>(_ x: UnsafePointer<T>, _ cols: UnsafeMutablePointer<T>, _ g: PatchGeometry, rowStride: Int, imageStride: Int)
    /// Columns back to images, summing overlaps (the adjoint of `im2col`, same layout).
    func col2im<T: FloatElement>(_ cols: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>, _ g: PatchGeometry, rowStride: Int, imageStride: Int)

    // Deformable attention sampling (ReferenceKernels+Deformable.swift)
    /// out[b, q, m·C + c] = Σ_{l,p} weights[b,q,m,l,p] · bilinear(value level l, head m (or the shared head), channel c,
    /// locations[b,q,m,l,p]).
    func deformableSampling<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                             _ out: UnsafeMutablePointer<T>, _ g: DeformableGeometry)
    /// Gradients of `deformableSampling` (accumulated into zero-initialized outputs; no value
    /// gradient when `gradValue` is nil).
    func deformableSamplingBackward<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                                     _ gradOut: UnsafePointer<T>, _ gradValue: UnsafeMutablePointer<T>?,
                                                     _ gradLocations: UnsafeMutablePointer<T>, _ gradWeights: UnsafeMutablePointer<T>,
                                                     _ g: DeformableGeometry)

    // Matrix kernels (ReferenceKernels+Gemm.swift, ReferenceKernels+Linalg.swift)

    /// C[m×n] = op(A)·op(B) + (accumulate ? C : 0), row-major with leading dimensions.
    func gemm<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                               a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                               c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool)
    /// `gemm` on the calling thread alone, for products small enough to run several side by
    /// side, one per kernel thread (a batch of attention heads).
    func gemmOnThisThread<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                           a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                           c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool)
    /// y[m] = A[m×n]·x[n] (or Aᵀ·x when `transpose`, then y has n elements).
    func gemv<T: FloatElement>(transpose: Bool, m: Int, n: Int, a: UnsafePointer<T>, lda: Int,
                               x: UnsafePointer<T>, y: UnsafeMutablePointer<T>)

    /// Solves A·X = B for X in place of B (A is n×n, B is n×nrhs); A is overwritten.
    func solve<T: FloatElement>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, n: Int, nrhs: Int) throws(LinearAlgebraError)
    /// Lower Cholesky factor of a symmetric positive-definite n×n matrix, in place
    /// (the strict upper triangle is zeroed).
    func cholesky<T: FloatElement>(_ a: UnsafeMutablePointer<T>, n: Int) throws(LinearAlgebraError)
}

/// Failures of the linear-algebra kernels.
/// A read-only strided operand: element `index` lives at `base[Σ index[i]·strides[i]]`.
public struct StridedOperand<T>: @unchecked Sendable {
    public let base: UnsafePointer<T>
    public let strides: [Int]
    public init(base: UnsafePointer<T>, strides: [Int]) { self.base = base; self.strides = strides }
}

/// The sliding-window geometry shared by unfold (im2col), fold (col2im), convolution and pooling.
public struct PatchGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)

    /// Output height: ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1.
    public var outHeight: Int { (height + 2 * padding.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1 }
    public var outWidth: Int { (width + 2 * padding.w - dilation.w * (kernel.w - 1) - 1) / stride.w + 1 }
    /// Output positions per image: oh · ow.
    public var length: Int { outHeight * outWidth }
    /// Rows of an image's patch matrix: C · kh · kw.
    public var patchRows: Int { channels * kernel.h * kernel.w }

    /// The output columns whose kernel column kj reads inside the image: the ox with
    /// 0 ≤ ox·s − p + kj·d ≤ W − 1.
    func insideColumns(kj: Int) -> Range<Int> {
        let shift = kj * dilation.w - padding.w
        let first = Swift.min(outWidth, shift >= 0 ? 0 : (-shift + stride.w - 1) / stride.w)
        let end = width - 1 - shift < 0 ? 0 : Swift.min(outWidth, (width - 1 - shift) / stride.w + 1)
        return first..<Swift.max(first, end)
    }

    public static func == (a: PatchGeometry, b: PatchGeometry) -> Bool {
        a.batch == b.batch && a.channels == b.channels && a.height == b.height && a.width == b.width
            && a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }
}

/// Sizes for multi-scale deformable sampling: value [B, S, Mv, C] with the levels laid out
/// one after another along S, where Mv is M (each head samples its own channels) or 1
/// (every head samples the same values); locations [B, Lq, M, L, P, 2] as normalized
/// (x, y); weights [B, Lq, M, L, P]; output [B, Lq, M, C].
public struct DeformableGeometry: Sendable, Equatable {
    public var batch, tokens, heads, channels, queries, points: Int
    /// Heads of the value tensor: `heads`, or 1 when the heads share one value tensor.
    public var valueHeads: Int
    /// (start token, height, width) of each level.
    public var levels: [LevelShape]

    /// Offset of (batch b, token t, head m)'s channels in the value tensor.
    @inline(__always) func valueOffset(b: Int, token: Int, head m: Int) -> Int {
        ((b * tokens + token) * valueHeads + (valueHeads == 1 ? 0 : m)) * channels
    }

    public struct LevelShape: Sendable, Equatable {
        public var start, height, width: Int
        public init(start: Int, height: Int, width: Int) { (self.start, self.height, self.width) = (start, height, width) }
    }

    public init(batch: Int, tokens: Int, heads: Int, valueHeads: Int? = nil, channels: Int, queries: Int, points: Int,
                levels: [LevelShape]) {
        (self.batch, self.tokens, self.heads, self.channels, self.queries, self.points, self.levels) =
            (batch, tokens, heads, channels, queries, points, levels)
        self.valueHeads = valueHeads ?? heads
        check(self.valueHeads == heads || self.valueHeads == 1, "DeformableGeometry: the value has \(self.valueHeads) heads, must be \(heads) or 1")
    }
}

public enum UnaryOp: Sendable, CaseIterable {
    case neg, exp, log, log1p, sin, cos, sqrt, rsqrt, abs, relu, sigmoid, tanh, gelu, softplus, erf, sign, floor, reciprocal
}

public enum BinaryOp: Sendable, CaseIterable {
    case add, sub, mul, div, pow, maximum, minimum
}

public enum CompareOp: Sendable, CaseIterable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual
}

public enum ReduceOp: Sendable, CaseIterable {
    case sum, max, min
}

public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    /// The matrix is singular (a zero pivot at the given 0-based column).
    case singular(pivot: Int)
    /// The matrix is not positive definite (the leading minor of the given order is not).
    case notPositiveDefinite(order: Int)

    public var description: String {
        switch self {
        case .singular(let p): return "matrix is singular (zero pivot in column \(p))"
        case .notPositiveDefinite(let o): return "matrix is not positive definite (leading minor of order \(o))"
        }
    }
}

/// The plain-Swift backend: every kernel is the reference implementation.
public struct ReferenceBackend: Backend {
    public init() {}
    public var name: String { "reference" }
}

#if OpenBLAS
/// The backend this build selected (trait `OpenBLAS`).
public typealias SelectedBackend = OpenBLASBackend
#else
/// The backend this build selected (no `OpenBLAS` trait: plain Swift).
public typealias SelectedBackend = ReferenceBackend
#endif

/// The backend every tensor operation uses, fixed when the package is built.
public let backend = SelectedBackend()
