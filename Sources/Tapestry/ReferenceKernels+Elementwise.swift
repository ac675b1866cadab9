import Foundation

/// Reference element-wise kernels: unary maps, broadcasting binary maps, comparisons,
/// selection, strided copies and dtype conversion.

extension Backend {
    /// Threaded over contiguous ranges. Float32 exp and sigmoid use `FastMath`.
    public func unary<T: FloatElement>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
        let input = UnsafeSendable(x), output = UnsafeSendable(y)
        Parallel.forRanges(count) { range in
            unaryRange(op, input.value + range.lowerBound, output.value + range.lowerBound, count: range.count)
        }
    }

    private func unaryRange<T: FloatElement>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
        @inline(__always) func map(_ f: (T) -> T) {
            for i in 0..<count { y[i] = f(x[i]) }
        }
        switch op {
        case .neg: map { -$0 }
        case .exp: kernelExp(x, y, count: count)
        case .log: map { T.log($0) }
        case .log1p: map { T.log1p($0) }
        case .sin: map { T.sin($0) }
        case .cos: map { T.cos($0) }
        case .sqrt: map { $0.squareRoot() }
        case .rsqrt: map { 1 / $0.squareRoot() }
        case .abs: map { Swift.abs($0) }
        case .relu: map { $0 > 0 ? $0 : ($0.isNaN ? $0 : 0) }
        case .sigmoid: map { kernelSigmoid($0) }
        case .tanh: map { T.tanh($0) }
        case .gelu: map { 0.5 * $0 * (1 + T.erf($0 * T(0.7071067811865476))) }
        // PyTorch's Softplus(beta 1, threshold 20): x above 20 passes through.
        case .softplus: map { $0 > 20 ? $0 : T.log1p(T.exp($0)) }
        case .erf: map { T.erf($0) }
        case .sign: map { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
        case .floor: map { $0.rounded(.down) }
        case .reciprocal: map { 1 / $0 }
        }
    }

    public func binary<T: TensorElement>(_ op: BinaryOp, _ a: StridedOperand<T>, _ b: StridedOperand<T>,
                                         _ out: UnsafeMutablePointer<T>, shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [a.strides, b.strides, contiguousStrides(shape)], offsets: [0, 0, 0])
        let operands = UnsafeSendable((a, b, out))
        walk.forEachPiece { rows, columns in
            let (a, b, out) = operands.value
            @inline(__always) func map(_ f: (T, T) -> T) { map2(a, b, out, walk: walk, rows: rows, columns: columns, f) }
            switch op {
            case .add: map { $0 + $1 }
            case .sub: map { $0 - $1 }
            case .mul: map { $0 * $1 }
            case .div: map { T.divide($0, $1) }
            case .pow: map { T(fromDouble: Foundation.pow($0.asDouble, $1.asDouble)) }
            case .maximum: map { $0.isNaNValue || $0 > $1 ? $0 : $1 }
            case .minimum: map { $0.isNaNValue || $0 < $1 ? $0 : $1 }
            }
        }
    }

    public func compare<T: TensorElement>(_ op: CompareOp, _ a: StridedOperand<T>, _ b: StridedOperand<T>,
                                          _ out: UnsafeMutablePointer<Bool8>, shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [a.strides, b.strides, contiguousStrides(shape)], offsets: [0, 0, 0])
        let operands = UnsafeSendable((a, b, out))
        walk.forEachPiece { rows, columns in
            let (a, b, out) = operands.value
            @inline(__always) func map(_ f: (T, T) -> Bool) {
                map2(a, b, out, walk: walk, rows: rows, columns: columns) { Bool8(f($0, $1)) }
            }
            switch op {
            case .equal: map { $0 == $1 }
            case .notEqual: map { $0 != $1 }
            case .less: map { $0 < $1 }
            case .lessEqual: map { $0 <= $1 }
            case .greater: map { $0 > $1 }
            case .greaterEqual: map { $0 >= $1 }
            }
        }
    }

    public func select<T: TensorElement>(_ cond: StridedOperand<Bool8>, _ a: StridedOperand<T>, _ b: StridedOperand<T>,
                                         _ out: UnsafeMutablePointer<T>, shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [cond.strides, a.strides, b.strides, contiguousStrides(shape)],
                               offsets: [0, 0, 0, 0])
        let (sc, sa, sb) = (walk.innerStrides[0], walk.innerStrides[1], walk.innerStrides[2])
        let operands = UnsafeSendable((cond, a, b, out))
        walk.forEachPiece { rows, columns in
            let (cond, a, b, out) = operands.value
            for r in rows {
                let c = cond.base + walk.rowStarts[r &* 4], pa = a.base + walk.rowStarts[r &* 4 &+ 1]
                let pb = b.base + walk.rowStarts[r &* 4 &+ 2], po = out + walk.rowStarts[r &* 4 &+ 3]
                for i in columns { po[i] = c[i &* sc].value ? pa[i &* sa] : pb[i &* sb] }
            }
        }
    }

    public func copy<T: TensorElement>(_ src: StridedOperand<T>, to dst: UnsafeMutablePointer<T>, dstStrides: [Int], shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [src.strides, dstStrides], offsets: [0, 0])
        let (ss, ds) = (walk.innerStrides[0], walk.innerStrides[1])
        let operands = UnsafeSendable((src, dst))
        walk.forEachPiece { rows, columns in
            let (src, dst) = operands.value
            for r in rows {
                let s = src.base + walk.rowStarts[r &* 2], d = dst + walk.rowStarts[r &* 2 &+ 1]
                if ss == 1 && ds == 1 {
                    (d + columns.lowerBound).update(from: s + columns.lowerBound, count: columns.count)
                } else {
                    for i in columns { d[i &* ds] = s[i &* ss] }
                }
            }
        }
    }

    public func cast<S: TensorElement, D: TensorElement>(_ src: StridedOperand<S>, to dst: UnsafeMutablePointer<D>, shape: [Int]) {
        let walk = StridedWalk(shape: shape, strides: [src.strides, contiguousStrides(shape)], offsets: [0, 0])
        let ss = walk.innerStrides[0]
        let operands = UnsafeSendable((src, dst))
        walk.forEachPiece { rows, columns in
            let (src, dst) = operands.value
            for r in rows {
                let s = src.base + walk.rowStarts[r &* 2], d = dst + walk.rowStarts[r &* 2 &+ 1]
                for i in columns { d[i] = D(fromDouble: s[i &* ss].asDouble) }
            }
        }
    }
}

/// out = f(a, b) over rows `rows`, columns `columns` of a walk over a, b and a contiguous
/// `out`. The inner loop has fast paths for contiguous operands and for a broadcast
/// (stride 0) operand.
@inline(__always)
func map2<T, U>(_ a: StridedOperand<T>, _ b: StridedOperand<T>, _ out: UnsafeMutablePointer<U>, walk: StridedWalk,
                rows: Range<Int>, columns: Range<Int>, _ f: (T, T) -> U) {
    let (sa, sb) = (walk.innerStrides[0], walk.innerStrides[1])
    let count = columns.count
    for r in rows {
        let pa = a.base + walk.rowStarts[r &* 3] + columns.lowerBound &* sa
        let pb = b.base + walk.rowStarts[r &* 3 &+ 1] + columns.lowerBound &* sb
        let po = out + walk.rowStarts[r &* 3 &+ 2] + columns.lowerBound
        if sa == 1 && sb == 1 {
            for i in 0..<count { po[i] = f(pa[i], pb[i]) }
        } else if sa == 1 && sb == 0 {
            let bv = pb[0]
            for i in 0..<count { po[i] = f(pa[i], bv) }
        } else if sa == 0 && sb == 1 {
            let av = pa[0]
            for i in 0..<count { po[i] = f(av, pb[i]) }
        } else {
            for i in 0..<count { po[i] = f(pa[i &* sa], pb[i &* sb]) }
        }
    }
}

extension StridedWalk {
    /// Runs `body(rows, columns)` over pieces that cover the walk, on several threads when
    /// it is large: a single long row is split into column ranges, several rows into row ranges.
    func forEachPiece(_ body: @Sendable (Range<Int>, Range<Int>) -> Void) {
        let (rowCount, rowLength) = (self.rowCount, self.rowLength)
        if rowCount == 1 {
            Parallel.forRanges(rowLength) { columns in body(0..<1, columns) }
        } else {
            Parallel.forRanges(rowCount, minimumPerThread: Swift.max(1, (1 << 15) / Swift.max(rowLength, 1)), alignment: 1) { rows in
                body(rows, 0..<rowLength)
            }
        }
    }
}
