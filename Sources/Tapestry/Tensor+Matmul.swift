/// Matrix products: `matmul` with PyTorch's rules (1-D operands, broadcast batch axes),
/// executed as one backend gemm (or gemv) per batch element — except [..., m, k]·[k, n]
/// (every Linear on a sequence), whose leading axes fold into the rows of one gemm.
///
/// Derivatives: for C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC, summed over broadcast batch axes
/// (for the folded product, Aᵀ·dC over the folded rows is that sum, in one gemm).

extension Tensor {
    /// The matrix product of `self` and `other` (like `torch.matmul`).
    public func matmul(_ other: Tensor) -> Tensor {
        check(rank >= 1 && other.rank >= 1, "matmul: operands must have at least one axis (\(shape), \(other.shape))")
        if rank > 2 && other.rank == 2 {
            let k = shape[rank - 1], rows = shape.dropLast().reduce(1, *)
            check(other.shape[0] == k, "matmul: inner sizes differ: \(shape) · \(other.shape)")
            return reshaped([rows, k]).matmul(other).reshaped(Array(shape.dropLast()) + [other.shape[1]])
        }
        let a = rank == 1 ? unsqueezed(axis: 0) : self
        let b = other.rank == 1 ? other.unsqueezed(axis: 1) : other
        let c = Tensor.batchedMatmul(a, b)
        // Drop the axes that were added for 1-D operands.
        var shape = Array(c.shape.dropLast(2))
        if rank > 1 { shape.append(c.shape[c.rank - 2]) }
        if other.rank > 1 { shape.append(c.shape[c.rank - 1]) }
        return c.reshaped(shape)
    }

    /// Products of at most this many multiply-adds (m·n·k) in a batch of several run side by
    /// side, each on one thread. DETR's attention logits (16 products of 100 × 32 × 100):
    /// 0.76–0.87 ms a batch with OpenBLAS's two threads on every product, 0.32 ms side by side.
    static let smallProduct = 1 << 22

    /// [..., m, k] · [..., k, n] → [..., m, n] with broadcast batch axes.
    static func batchedMatmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        check(a.dtype == b.dtype, "matmul: dtypes differ (\(a.dtype), \(b.dtype))")
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
        check(b.shape[b.rank - 2] == k, "matmul: inner sizes differ: \(a.shape) · \(b.shape)")
        guard let batch = broadcastShapes([Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))]) else {
            fatalError("matmul: batch axes of \(a.shape) and \(b.shape) do not broadcast")
        }
        let out = Tensor(uninitializedShape: batch + [m, n], dtype: a.dtype)
        let ma = a.detached().matrixOperand(), mb = b.detached().matrixOperand()
        let walk = StridedWalk(shape: batch + [1],
                               strides: [broadcastStrides(shape: Array(ma.shape.dropLast(2)), strides: Array(ma.strides.dropLast(2)), to: batch) + [0],
                                         broadcastStrides(shape: Array(mb.shape.dropLast(2)), strides: Array(mb.strides.dropLast(2)), to: batch) + [0]],
                               offsets: [0, 0])
        struct Product: FloatKernel {
            let a: Tensor, b: Tensor, out: Tensor, walk: StridedWalk, m: Int, n: Int, k: Int
            func run<T: FloatElement>(_: T.Type) {
                let (ta, lda) = a.matrixLayout(), (tb, ldb) = b.matrixLayout()
                let operands = UnsafeSendable((a.pointer(T.self), b.pointer(T.self), out.pointer(T.self)))
                let items = walk.rowCount * walk.rowLength
                /// The product of item `item` (in the output's order): on the calling thread alone,
                /// or by the backend's (threaded) gemm or gemv.
                @Sendable func product(_ item: Int, onThisThread: Bool) {
                    let (pa, pb, pc) = operands.value
                    let (r, i) = item.quotientAndRemainder(dividingBy: walk.rowLength)
                    let oa = walk.rowStarts[2 * r] + i * walk.innerStrides[0], ob = walk.rowStarts[2 * r + 1] + i * walk.innerStrides[1]
                    let c = pc + item * m * n
                    if onThisThread {
                        backend.gemmOnThisThread(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: pa + oa, lda: lda,
                                                 b: pb + ob, ldb: ldb, c: c, ldc: n, accumulate: false)
                    } else if n == 1 && !tb && ldb == 1 || n == 1 && tb {
                        // Matrix-vector: B's single column is contiguous.
                        backend.gemv(transpose: ta, m: ta ? k : m, n: ta ? m : k, a: pa + oa, lda: lda, x: pb + ob, y: c)
                    } else {
                        backend.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: pa + oa, lda: lda,
                                     b: pb + ob, ldb: ldb, c: c, ldc: n, accumulate: false)
                    }
                }
                if items > 1 && m * n * k <= Tensor.smallProduct {
                    // Small products side by side, one per thread (a threaded gemm of this size
                    // spends more on waking and joining its threads than on arithmetic).
                    Parallel.forEach(items, parallel: true) { product($0, onThisThread: true) }
                } else {
                    for item in 0..<items { product(item, onThisThread: false) }
                }
            }
        }
        a.dtype.dispatchFloat(Product(a: ma, b: mb, out: out, walk: walk, m: m, n: n, k: k), operation: "matmul")
        return out.recorded("matmul", [a, b]) { g in
            [ifTracked(a) { batchedMatmul(g, b.transposed()).summed(toShape: a.shape) },
             ifTracked(b) { batchedMatmul(a.transposed(), g).summed(toShape: b.shape) }]
        }
    }

    /// Self, copied if needed so its last two axes form a BLAS-compatible matrix
    /// (unit stride along one of them).
    func matrixOperand() -> Tensor {
        let (rs, cs) = (strides[rank - 2], strides[rank - 1])
        let (rows, columns) = (shape[rank - 2], shape[rank - 1])
        if (cs == 1 || columns == 1) && rs >= Swift.max(columns, 1) { return self }
        if (rs == 1 || rows == 1) && cs >= Swift.max(rows, 1) { return self }
        return contiguous()
    }

    /// (transposed, leading dimension) of a matrix operand prepared by `matrixOperand`.
    func matrixLayout() -> (Bool, Int) {
        let (rs, cs) = (strides[rank - 2], strides[rank - 1])
        let (rows, columns) = (shape[rank - 2], shape[rank - 1])
        if (cs == 1 || columns == 1) && rs >= Swift.max(columns, 1) { return (false, rs) }
        return (true, Swift.max(cs, rows, 1))
    }
}
