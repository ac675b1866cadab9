/// Reference kernels that work along contiguous rows: reductions, arg-reductions,
/// prefix sums and sorting.

extension Backend {
    public func reduceRows<T: TensorElement>(_ op: ReduceOp, _ x: UnsafePointer<T>, rows: Int, length: Int,
                                             _ out: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let row = x + r &* length
            switch op {
            case .sum:
                // Four independent partial sums: vectorizes and rounds better than one chain.
                var s0 = T.zero, s1 = T.zero, s2 = T.zero, s3 = T.zero
                var i = 0
                while i &+ 4 <= length {
                    s0 += row[i]; s1 += row[i &+ 1]; s2 += row[i &+ 2]; s3 += row[i &+ 3]
                    i &+= 4
                }
                while i < length { s0 += row[i]; i &+= 1 }
                out[r] = (s0 + s1) + (s2 + s3)
            case .max, .min:
                check(length > 0, "max/min: cannot reduce an empty axis")
                var best = row[0]
                for i in 1..<max(length, 1) where !best.isNaNValue {
                    let v = row[i]
                    if v.isNaNValue || (op == .max ? v > best : v < best) { best = v }
                }
                out[r] = best
            }
        }
    }

    public func accumulateSum<T: TensorElement>(_ x: StridedOperand<T>, into out: UnsafeMutablePointer<T>, outStrides: [Int],
                                                shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [x.strides, outStrides], offsets: [0, 0])
        let (xs, os) = (walk.innerStrides[0], walk.innerStrides[1])
        let n = walk.rowLength
        for r in 0..<walk.rowCount {
            let row = x.base + walk.rowStarts[r &* 2], target = out + walk.rowStarts[r &* 2 &+ 1]
            if os == 0 {
                // The whole row sums into one total: four partial sums, as in reduceRows.
                var s0 = T.zero, s1 = T.zero, s2 = T.zero, s3 = T.zero
                var i = 0
                while i &+ 4 <= n {
                    s0 += row[i &* xs]; s1 += row[(i &+ 1) &* xs]; s2 += row[(i &+ 2) &* xs]; s3 += row[(i &+ 3) &* xs]
                    i &+= 4
                }
                while i < n { s0 += row[i &* xs]; i &+= 1 }
                target[0] += (s0 + s1) + (s2 + s3)
            } else if os == 1 && xs == 1 {
                for i in 0..<n { target[i] += row[i] }
            } else {
                for i in 0..<n { target[i &* os] += row[i &* xs] }
            }
        }
    }

    public func argReduceRows<T: TensorElement>(max: Bool, _ x: UnsafePointer<T>, rows: Int, length: Int,
                                                _ out: UnsafeMutablePointer<Int64>) {
        check(length > 0, "argmax/argmin: cannot reduce an empty axis")
        for r in 0..<rows {
            let row = x + r &* length
            var best = 0
            for i in 1..<length where !row[best].isNaNValue {
                if row[i].isNaNValue || (max ? row[i] > row[best] : row[i] < row[best]) { best = i }
            }
            out[r] = Int64(best)
        }
    }

    public func softmaxRows<T: FloatElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, log: Bool, _ out: UnsafeMutablePointer<T>) {
        let input = UnsafeSendable(x), output = UnsafeSendable(out)
        let chunk = Swift.max(1, (1 << 16) / Swift.max(length, 1))
        Parallel.forEach((rows + chunk - 1) / chunk, parallel: rows * length > 1 << 17) { block in
            for r in (block * chunk)..<Swift.min(rows, (block + 1) * chunk) {
                let row = input.value + r * length, target = output.value + r * length
                // A NaN anywhere makes the total, and so every output, NaN (as in PyTorch).
                var largest = VectorRows.max(row, length)
                if largest == -T.infinity { largest = 0 }   // an all −∞ row gives NaN below, as in PyTorch
                for i in 0..<length { target[i] = row[i] - largest }
                kernelExp(target, target, count: length)
                let total = VectorRows.sum(target, length)
                if log {
                    let shift = largest + T.log(total)
                    for i in 0..<length { target[i] = row[i] - shift }
                } else {
                    let scale = 1 / total
                    for i in 0..<length { target[i] *= scale }
                }
            }
        }
    }

    public func softmaxBackwardRows<T: FloatElement>(_ y: UnsafePointer<T>, _ g: UnsafePointer<T>, rows: Int, length: Int,
                                                     _ out: UnsafeMutablePointer<T>) {
        let pointers = UnsafeSendable((y, g, out))
        let chunk = Swift.max(1, (1 << 16) / Swift.max(length, 1))
        Parallel.forEach((rows + chunk - 1) / chunk, parallel: rows * length > 1 << 17) { block in
            let (y, g, out) = pointers.value
            for r in (block * chunk)..<Swift.min(rows, (block + 1) * chunk) {
                let (yr, gr, target) = (y + r * length, g + r * length, out + r * length)
                let dot = VectorRows.dot(gr, yr, length)
                for i in 0..<length { target[i] = yr[i] * (gr[i] - dot) }
            }
        }
    }

    public func cumsumRows<T: TensorElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, _ out: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            var running = T.zero
            for i in 0..<length {
                running += x[r &* length &+ i]
                out[r &* length &+ i] = running
            }
        }
    }

    public func argsortRows<T: TensorElement>(_ x: UnsafePointer<T>, rows: Int, length: Int, descending: Bool,
                                              _ out: UnsafeMutablePointer<Int64>) {
        var order = [Int](repeating: 0, count: length)
        for r in 0..<rows {
            let row = x + r &* length
            for i in 0..<length { order[i] = i }
            // NaN counts as larger than everything, as in PyTorch.
            @inline(__always) func less(_ i: Int, _ j: Int) -> Bool {
                let (a, b) = (row[i], row[j])
                if a.isNaNValue { return false }
                return b.isNaNValue || a < b
            }
            mergeSort(&order) { i, j in descending ? less(j, i) : less(i, j) }
            for i in 0..<length { out[r &* length &+ i] = Int64(order[i]) }
        }
    }
}

/// A stable merge sort (Swift's `sort` is not guaranteed stable).
func mergeSort(_ values: inout [Int], by less: (Int, Int) -> Bool) {
    guard values.count > 1 else { return }
    var buffer = values
    var width = 1
    let n = values.count
    while width < n {
        var start = 0
        while start < n {
            let mid = min(start + width, n), end = min(start + 2 * width, n)
            var (i, j, k) = (start, mid, start)
            while i < mid && j < end {
                if less(values[j], values[i]) { buffer[k] = values[j]; j += 1 } else { buffer[k] = values[i]; i += 1 }
                k += 1
            }
            while i < mid { buffer[k] = values[i]; i += 1; k += 1 }
            while j < end { buffer[k] = values[j]; j += 1; k += 1 }
            start += 2 * width
        }
        swap(&values, &buffer)
        width *= 2
    }
}

/// Row reductions on 8 lanes at once (a scalar loop over a Float sum cannot be vectorised
/// by the compiler, which must keep the additions in order), and a transposition by 8 × 8 blocks.
enum VectorRows {
    /// target(j)[r] = source[r·rowStride + j] for r < rows, j < columns (a transposition into
    /// rows `target` chooses): blocks of 8 rows × 8 columns are loaded a row at a time and
    /// written back a column at a time.
    @inline(__always)
    static func gatherColumns<T: FloatElement>(_ source: UnsafePointer<T>, rowStride: Int, rows: Int, columns: Int,
                                               into target: (Int) -> UnsafeMutablePointer<T>) {
        let (fullRows, fullColumns) = (rows / 8 * 8, columns / 8 * 8)
        for r0 in stride(from: 0, to: fullRows, by: 8) {
            let row = source + r0 * rowStride
            for j0 in stride(from: 0, to: fullColumns, by: 8) {
                let v0 = load(row + j0), v1 = load(row + rowStride + j0)
                let v2 = load(row + 2 * rowStride + j0), v3 = load(row + 3 * rowStride + j0)
                let v4 = load(row + 4 * rowStride + j0), v5 = load(row + 5 * rowStride + j0)
                let v6 = load(row + 6 * rowStride + j0), v7 = load(row + 7 * rowStride + j0)
                for x in 0..<8 { store(SIMD8(v0[x], v1[x], v2[x], v3[x], v4[x], v5[x], v6[x], v7[x]), target(j0 + x) + r0) }
            }
            for j in fullColumns..<columns {
                let column = target(j)
                for r in r0..<r0 + 8 { column[r] = source[r * rowStride + j] }
            }
        }
        for j in 0..<columns {
            let column = target(j)
            for r in fullRows..<rows { column[r] = source[r * rowStride + j] }
        }
    }

    @inline(__always)
    static func load<T: FloatElement>(_ p: UnsafePointer<T>) -> SIMD8<T> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self)
    }

    @inline(__always)
    static func store<T: FloatElement>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self)
    }

    /// acc += x⊙y on vectors of any width, fused where the build allows it (`-DTAPESTRY_FMA`).
    @inline(__always)
    static func madd<V: SIMD>(_ acc: inout V, _ x: V, _ y: V) where V.Scalar: FloatingPoint {
        #if TAPESTRY_FMA
        acc = acc.addingProduct(x, y)
        #else
        acc += x * y
        #endif
    }

    /// Σ a[i]·b[i].
    @inline(__always)
    static func dot<T: FloatElement>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>()
        var i = 0
        while i &+ 8 <= n { acc += load(a + i) * load(b + i); i &+= 8 }
        var total = acc.sum()
        while i < n { total += a[i] * b[i]; i &+= 1 }
        return total
    }

    /// Σ a[i].
    @inline(__always)
    static func sum<T: FloatElement>(_ a: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>()
        var i = 0
        while i &+ 8 <= n { acc += load(a + i); i &+= 8 }
        var total = acc.sum()
        while i < n { total += a[i]; i &+= 1 }
        return total
    }

    /// The largest a[i] (−∞ for n = 0). NaNs are passed over (comparisons with them are
    /// false), so callers must let NaN propagate through what they compute from a[i].
    /// Float runs 16 lanes at a time: its SIMD comparisons are single instructions, where
    /// generic ones (and the standard library's pointwiseMax) go lane by lane, which made
    /// DETR's attention softmax 4 times PyTorch's.
    @inline(__always)
    static func max<T: FloatElement>(_ a: UnsafePointer<T>, _ n: Int) -> T {
        var i = 0
        var largest = -T.infinity
        if T.self == Float.self {
            let floats: UnsafePointer<Float> = rebound(a)
            var acc = SIMD16<Float>(repeating: -.infinity)
            while i &+ 16 <= n {
                let lanes = UnsafeRawPointer(floats + i).loadUnaligned(as: SIMD16<Float>.self)
                acc.replace(with: lanes, where: lanes .> acc)
                i &+= 16
            }
            let lower = acc.lowHalf.replacing(with: acc.highHalf, where: acc.highHalf .> acc.lowHalf)
            let quarter = lower.lowHalf.replacing(with: lower.highHalf, where: lower.highHalf .> lower.lowHalf)
            var best = -Float.infinity
            for lane in quarter.indices where quarter[lane] > best { best = quarter[lane] }
            largest = unsafeBitCast(best, to: T.self)
        }
        while i < n {
            if a[i] > largest { largest = a[i] }
            i &+= 1
        }
        return largest
    }
}
