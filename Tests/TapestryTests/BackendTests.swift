import Foundation
import Testing
@testable import Tapestry

/// Every backend this build has, and the reference implementation they must agree with.
let availableBackends: [any Backend] = {
    #if OpenBLAS
    return [ReferenceBackend(), OpenBLASBackend()]
    #else
    return [ReferenceBackend()]
    #endif
}()

/// C = op(A)·op(B) by the textbook triple loop, in Double: an independent path.
func naiveProduct(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool,
                  lda: Int, ldb: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                s += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j])
            }
            c[i * n + j] = s
        }
    }
    return c
}

@Suite struct BackendAgreement {
    /// Odd and blocking-boundary sizes: below, at and past the 6×32 tile and 96/256 blocks;
    /// the OpenBLAS backend splits the two largest between threads, by rows (97 × 65) and
    /// by columns (40 × 301).
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (5, 7, 3), (6, 32, 256), (7, 33, 257), (97, 65, 300), (40, 301, 90),
                                            (13, 1, 40), (1, 50, 17), (200, 3, 5), (0, 4, 3), (3, 4, 0)]

    func gemmMatches<T: FloatElement>(_ backend: any Backend, _: T.Type, tolerance: Double) {
        var rng = RandomGenerator(seed: 5)
        for (m, n, k) in Self.shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                // Leading dimensions larger than needed, to exercise strided rows.
                let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2
                let a = (0..<((ta ? k : m) * lda)).map { _ in rng.nextUniform() * 2 - 1 }
                let b = (0..<((tb ? n : k) * ldb)).map { _ in rng.nextUniform() * 2 - 1 }
                let expected = naiveProduct(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, lda: lda, ldb: ldb)
                let ta32 = a.map { T(fromDouble: $0) }, tb32 = b.map { T(fromDouble: $0) }
                for accumulate in [false, true] {
                    var c = [T](repeating: T(1), count: m * n)
                    backend.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: ta32, lda: lda, b: tb32, ldb: ldb,
                                 c: &c, ldc: n, accumulate: accumulate)
                    let want = expected.map { accumulate ? $0 + 1 : $0 }
                    let diff = maxAbsDifference(c.map(\.asDouble), want)
                    #expect(diff <= tolerance * Double(max(k, 1)).squareRoot(),
                            "\(backend.name) gemm<\(T.self)> m\(m) n\(n) k\(k) tA \(ta) tB \(tb) acc \(accumulate): diff \(diff)")
                }
            }
        }
    }

    @Test(arguments: availableBackends.indices) func gemmAgreesWithTheTripleLoop(_ index: Int) {
        gemmMatches(availableBackends[index], Double.self, tolerance: 1e-13)
        gemmMatches(availableBackends[index], Float.self, tolerance: 2e-6)
    }

    @Test(arguments: availableBackends.indices) func gemvAgreesWithTheTripleLoop(_ index: Int) {
        let backend = availableBackends[index]
        var rng = RandomGenerator(seed: 6)
        for (m, n) in [(1, 1), (7, 5), (64, 129), (3, 0)] {
            let lda = n + 1
            let a = (0..<(m * lda)).map { _ in rng.nextUniform() - 0.5 }
            for transpose in [false, true] {
                let x = (0..<(transpose ? m : n)).map { _ in rng.nextUniform() - 0.5 }
                var y = [Double](repeating: 9, count: transpose ? n : m)
                backend.gemv(transpose: transpose, m: m, n: n, a: a, lda: lda, x: x, y: &y)
                let expected = transpose
                    ? naiveProduct(x, a, m: 1, n: n, k: m, transposeA: false, transposeB: false, lda: m, ldb: lda)
                    : naiveProduct(a, x, m: m, n: 1, k: n, transposeA: false, transposeB: false, lda: lda, ldb: 1)
                #expect(maxAbsDifference(y, expected) < 1e-13, "\(backend.name) gemv m\(m) n\(n) t \(transpose)")
            }
        }
    }

    @Test(arguments: availableBackends.indices) func linearAlgebraSolvesAndFactors(_ index: Int) throws {
        let backend = availableBackends[index]
        for n in [1, 2, 5, 17] {
            let a = randomTensor([n, n], seed: UInt64(n)) + Tensor.eye(n, dtype: .float64) * 2
            let b = randomTensor([n, 3], seed: UInt64(n + 100))
            var factors = a.doubles(), x = b.doubles()
            try backend.solve(&factors, &x, n: n, nrhs: 3)
            // Residual check: A·X reproduces B.
            let ax = a.matmul(Tensor(x, shape: [n, 3])).doubles()
            #expect(maxAbsDifference(ax, b.doubles()) < 1e-12, "\(backend.name) solve n\(n)")
            // Cholesky of A·Aᵀ + I: L is lower triangular and L·Lᵀ gives the matrix back.
            let spd = a.matmul(a.transposed()) + Tensor.eye(n, dtype: .float64)
            var l = spd.doubles()
            try backend.cholesky(&l, n: n)
            let lt = Tensor(l, shape: [n, n])
            #expect(maxAbsDifference(lt.matmul(lt.transposed()).doubles(), spd.doubles()) < 1e-12)
            #expect((0..<n).allSatisfy { i in (i + 1..<n).allSatisfy { j in l[i * n + j] == 0 } })
        }
    }

    @Test(arguments: availableBackends.indices) func linearAlgebraReportsFailures(_ index: Int) {
        let backend = availableBackends[index]
        var singular: [Double] = [1, 2, 2, 4], rhs: [Double] = [1, 1]
        #expect(throws: LinearAlgebraError.self) { try backend.solve(&singular, &rhs, n: 2, nrhs: 1) }
        var indefinite: [Double] = [1, 2, 2, 1]
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 2)) { try backend.cholesky(&indefinite, n: 2) }
    }

    /// Each unary op of `Tensor` against Foundation's function for one element, an independent
    /// path: Float64 to a few ulps, Float32 to what rounding its input and output costs, on
    /// a contiguous odd-sized input, a transposed view and a strided slice (so vectorised
    /// loops, their remainders and the strided gather are all taken).
    @Test(arguments: [DType.float64, .float32]) func unaryOpsMatchFoundationElementByElement(_ dtype: DType) {
        func reference(_ op: UnaryOp) -> (tensor: (Tensor) -> Tensor, element: (Double) -> Double) {
            switch op {
            case .neg: return ({ -$0 }, { -$0 })
            case .exp: return ({ $0.exp() }, { Foundation.exp($0) })
            case .log: return ({ $0.log() }, { Foundation.log($0) })
            case .log1p: return ({ $0.log1p() }, { Foundation.log1p($0) })
            case .sin: return ({ $0.sin() }, { Foundation.sin($0) })
            case .cos: return ({ $0.cos() }, { Foundation.cos($0) })
            case .sqrt: return ({ $0.sqrt() }, { Foundation.sqrt($0) })
            case .rsqrt: return ({ $0.rsqrt() }, { 1 / Foundation.sqrt($0) })
            case .abs: return ({ $0.abs() }, { Swift.abs($0) })
            case .relu: return ({ $0.relu() }, { Swift.max($0, 0) })
            case .sigmoid: return ({ $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) })
            case .tanh: return ({ $0.tanh() }, { Foundation.tanh($0) })
            case .gelu: return ({ $0.gelu() }, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) })
            case .softplus: return ({ $0.softplus() }, { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) })
            case .erf: return ({ $0.erf() }, { Foundation.erf($0) })
            case .sign: return ({ $0.sign() }, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
            case .floor: return ({ $0.floor() }, { Foundation.floor($0) })
            case .reciprocal: return ({ $0.reciprocal() }, { 1 / $0 })
            }
        }
        var rng = RandomGenerator(seed: 21)
        // Wide enough for exp's and softplus's ranges, positive where the domain needs it.
        let signed = (0..<(37 * 11)).map { _ in rng.nextUniform() * 60 - 30 }
        let base = Tensor(signed, shape: [37, 11], dtype: dtype)
        let inputs = [("contiguous", base), ("transposed", base.transposed()), ("strided", base.slice(axis: 0, start: 1, step: 3))]
        let tolerance = dtype == .float64 ? 4 * Double.ulpOfOne : 4 * Double(Float.ulpOfOne)
        for op in UnaryOp.allCases {
            let (tensorOp, elementOp) = reference(op)
            for (layout, input) in inputs {
                let x = [.log, .sqrt, .rsqrt, .log1p].contains(op) ? input.abs() + 0.01 : input
                let expected = x.doubles().map(elementOp)
                let got = tensorOp(x).doubles()
                #expect(got.count == expected.count)
                // Float32: the input was rounded too, so compare relative to the function's
                // sensitivity at that point (|f'(x)·x| ≈ |f(x)|·(1 + |x|) bounds it here).
                // gelu's 1 + erf(x/√2) cancels for x ≪ 0 (as in PyTorch's exact GELU): its
                // error is relative to the ½·x the cancelling terms carry.
                let worst = zip(zip(got, expected), x.doubles()).map { pair, input in
                    let (g, e) = pair
                    let magnitude = op == .gelu ? Swift.max(Swift.abs(e), 0.5 * Swift.abs(input)) : Swift.abs(e)
                    let scale = Swift.max(magnitude, 1e-30) * (dtype == .float64 ? 1 : 1 + Swift.abs(input))
                    return e == g ? 0 : Swift.abs(g - e) / scale
                }.max() ?? .infinity
                #expect(worst <= tolerance, "\(op) on a \(layout) \(dtype) input: worst relative error \(worst)")
            }
        }
    }

    /// Float32 exp and sigmoid are polynomial kernels of our own (`FastMath`), not the C
    /// library's: every one of ~1.1 million inputs spread over exp's whole range (and the
    /// edge cases), subnormal results included, close to the exact value (computed in
    /// Double): exp within 1.5 ulp (polynomial and reduction cost about half an ulp,
    /// rounding the result another half), sigmoid within 2.5 (exp's error, then the rounding
    /// of 1 + eˣ and of the division).
    @Test func float32ExpAndSigmoidWithinAnUlpOrTwo() {
        var inputs: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, 88.72283, 88.72284, 88.8, 89,
                               -87.33, -87.34, -100, -103.97, -103.98, -104, -150, 1e-8, -1e-8, .leastNonzeroMagnitude]
        var x: Float = -105
        while x < 90 { inputs.append(x); x = x.nextUp.nextUp.nextUp + 1.7e-4 }
        let t = Tensor(inputs, shape: [inputs.count])
        for (name, got, exact, bound) in [("exp", t.exp().scalars(as: Float.self), { Foundation.exp(Double($0)) }, 1.5),
                                          ("sigmoid", t.sigmoid().scalars(as: Float.self), { 1 / (1 + Foundation.exp(-Double($0))) }, 2.5)]
            as [(String, [Float], (Float) -> Double, Double)] {
            var worst = 0.0, worstInput: Float = 0
            for (input, value) in zip(inputs, got) {
                let expected = Float(exact(input))
                if expected.isNaN || value.isNaN {
                    #expect(expected.isNaN && value.isNaN, "\(name)(\(input)) = \(value), expected \(expected)")
                    continue
                }
                if expected == value { continue }
                let ulps = expected.isInfinite || value.isInfinite ? .infinity
                    : Swift.abs(Double(value) - exact(input)) / Double(Swift.max(expected.ulp, Float.leastNonzeroMagnitude))
                if ulps > worst { (worst, worstInput) = (ulps, input) }
            }
            #expect(worst <= bound, "\(name): \(worst) ulp at \(worstInput) (over \(inputs.count) inputs)")
        }
    }

    /// `Tensor.exp` on Float32 runs `FastMath.exp` 16 lanes at a time (the tail lane by lane):
    /// every result has the bits of the scalar `FastMath.exp` of its input, over exp's whole
    /// range, the edge cases (±∞, NaN, overflow, gradual underflow) in every lane position,
    /// and a count that leaves a tail.
    @Test func float32ExpSixteenLanesMatchScalar() {
        var inputs: [Float] = []
        let edges: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, 88.72283, 88.72284, 89, -87.33, -87.34, -100,
                              -103.97, -103.98, -104, -150, .leastNonzeroMagnitude, -.greatestFiniteMagnitude]
        for shift in 0..<16 { inputs += Array(repeating: 0.5, count: shift) + edges }
        var x: Float = -110
        while x < 95 { inputs.append(x); x += 3.1e-3 }
        inputs.append(2)   // a count that is not a multiple of 16
        #expect(inputs.count % 16 != 0)
        let got = Tensor(inputs, shape: [inputs.count]).exp().scalars(as: Float.self)
        var differing: [(Float, Float, Float)] = []
        for (input, value) in zip(inputs, got) {
            let scalar = FastMath.exp(input)
            if value.bitPattern != scalar.bitPattern && !(value.isNaN && scalar.isNaN) { differing.append((input, value, scalar)) }
        }
        let differingCount = differing.count, firstDiffering = Array(differing.prefix(3))
        #expect(differingCount == 0, "\(differingCount) of \(inputs.count) differ, first (input, 16 lanes, scalar): \(firstDiffering)")
    }

    /// Outputs large enough to be split between threads — one long row split into column
    /// ranges whose bounds are not multiples of the vector width, many rows split into row
    /// ranges, a broadcast operand, a transposed operand — against plain loops over arrays.
    @Test func threadedElementwiseKernelsMatchPlainLoops() {
        var rng = RandomGenerator(seed: 8)
        let long = 100_003, rows = 301, columns = 257
        let a = (0..<long).map { _ in Float(rng.nextUniform() * 4 - 2) }, b = (0..<long).map { _ in Float(rng.nextUniform() * 4 - 2) }
        let ta = Tensor(a, shape: [long]), tb = Tensor(b, shape: [long])
        #expect((ta - tb).scalars(as: Float.self) == zip(a, b).map { $0 - $1 })
        #expect(ta.relu().scalars(as: Float.self) == a.map { Swift.max($0, 0) })
        let leaf = ta.requiringGrad()
        let reluGradient = gradients(of: [leaf.relu()], wrt: [leaf], cotangents: [tb])[0]
        #expect(reluGradient.scalars(as: Float.self) == zip(a, b).map { $0 > 0 ? $1 : 0 })
        let greater = ta .> tb
        #expect(greater.cast(to: .float32).scalars(as: Float.self) == zip(a, b).map { $0 > $1 ? 1 : 0 })
        #expect(Tensor.where(greater, ta, tb).scalars(as: Float.self) == zip(a, b).map { Swift.max($0, $1) })
        let matrix = Tensor(Array(a[0..<(rows * columns)]), shape: [rows, columns]), row = Tensor(Array(b[0..<columns]), shape: [columns])
        let product = (matrix * row).scalars(as: Float.self)
        #expect(product == (0..<(rows * columns)).map { a[$0] * b[$0 % columns] })
        let transposed = Tensor(Array(b[0..<(rows * columns)]), shape: [columns, rows]).transposed()
        let sum = (matrix + transposed).scalars(as: Float.self)
        #expect(sum == (0..<(rows * columns)).map { a[$0] + b[($0 % columns) * rows + $0 / columns] })
        #expect(transposed.contiguous().scalars(as: Float.self) == (0..<(rows * columns)).map { b[($0 % columns) * rows + $0 / columns] })
    }

    /// Sums over leading or interleaved axes (accumulated in place) and over the trailing
    /// axes of a strided view, against loops over the indices.
    @Test func sumsOverAnyAxesMatchLoops() {
        let x = randomTensor([3, 4, 5], seed: 9), v = x.doubles()
        func at(_ i: Int, _ j: Int, _ k: Int) -> Double { v[(i * 4 + j) * 5 + k] }
        #expect(maxAbsDifference(x.sum(axes: [0, 2]).doubles(), (0..<4).map { j in (0..<3).flatMap { i in (0..<5).map { at(i, j, $0) } }.reduce(0, +) }) < 1e-12)
        #expect(maxAbsDifference(x.sum(axis: 0).doubles(), (0..<20).map { jk in (0..<3).map { at($0, jk / 5, jk % 5) }.reduce(0, +) }) < 1e-12)
        #expect(maxAbsDifference(x.sum(axis: 1, keepDim: true).doubles(), (0..<15).map { ik in (0..<4).map { at(ik / 5, $0, ik % 5) }.reduce(0, +) }) < 1e-12)
        #expect(x.sum(axis: 1, keepDim: true).shape == [3, 1, 5] && x.sum(axes: [0, 2]).shape == [4])
        let t = x.transposed(0, 2)   // [5, 4, 3], strided
        #expect(maxAbsDifference(t.sum(axis: 2).doubles(), (0..<20).map { kj in (0..<3).map { at($0, kj % 4, kj / 4) }.reduce(0, +) }) < 1e-12)
        #expect(maxAbsDifference(t.sum(axes: [0, 1]).doubles(), (0..<3).map { i in (0..<20).map { at(i, $0 % 4, $0 / 4) }.reduce(0, +) }) < 1e-12)
    }

    @Test func tensorLevelFailuresAreTypedErrors() {
        #expect(throws: LinearAlgebraError.self) { try Tensor([1, 2, 2, 4] as [Double], shape: [2, 2]).inverse() }
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 1)) { try Tensor([-1, 0, 0, 1] as [Double], shape: [2, 2]).cholesky() }
    }

    @Test(arguments: availableBackends.indices) func rowKernelsAgreeWithPlainLoops(_ index: Int) {
        let backend = availableBackends[index]
        var rng = RandomGenerator(seed: 8)
        let x = (0..<37).map { _ in rng.nextUniform() * 4 - 2 }
        var sums = [Double](repeating: 0, count: 1), cumulative = [Double](repeating: 0, count: 37)
        backend.reduceRows(.sum, x, rows: 1, length: 37, &sums)
        backend.cumsumRows(x, rows: 1, length: 37, &cumulative)
        #expect(Swift.abs(sums[0] - x.reduce(0, +)) < 1e-12)
        #expect(Swift.abs(cumulative[36] - x.reduce(0, +)) < 1e-12)
        var order = [Int64](repeating: 0, count: 37)
        backend.argsortRows(x, rows: 1, length: 37, descending: false, &order)
        #expect(order.map { x[Int($0)] } == x.sorted())
    }
}

@Suite struct BatchedProducts {
    /// Batched products against their definition, summed in Float64 by hand: a broadcast
    /// batch with a transposed operand of small products (run side by side, one per thread)
    /// and of products past `Tensor.smallProduct` (one threaded gemm each).
    @Test(arguments: [(7, 11, 9), (130, 200, 170)])
    func batchedProductsMatchTheirDefinition(m: Int, k: Int, n: Int) {
        let a = randomTensor([3, 1, m, k], seed: 21), b = randomTensor([5, n, k], seed: 22).transposed(1, 2)
        #expect((m * n * k <= Tensor.smallProduct) == (m == 7))
        let product = a.matmul(b)
        #expect(product.shape == [3, 5, m, n])
        let (av, bv, pv) = (a.doubles(), b.contiguous().doubles(), product.doubles())
        var worst = 0.0
        for i in 0..<3 { for j in 0..<5 { for r in 0..<m { for c in 0..<n {
            var sum = 0.0
            for p in 0..<k { sum += av[(i * m + r) * k + p] * bv[(j * k + p) * n + c] }
            worst = Swift.max(worst, Swift.abs(pv[((i * 5 + j) * m + r) * n + c] - sum))
        } } } }
        #expect(worst < 1e-12)
    }
}

@Suite struct ConvolutionAndPoolingValues {
    /// conv2d by direct summation, an independent path.
    func directConvolution(_ x: Tensor, _ w: Tensor, stride: Int, padding: Int, dilation: Int, groups: Int) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        let ow = (wd + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
        let xv = x.doubles(), wv = w.doubles()
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
            var s = 0.0
            let group = oc / (o / groups)
            for ci in 0..<cg { for p in 0..<kh { for q in 0..<kw {
                let y = i * stride - padding + p * dilation, z = j * stride - padding + q * dilation
                guard y >= 0 && y < h && z >= 0 && z < wd else { continue }
                let channel = group * cg + ci
                s += xv[((b * c + channel) * h + y) * wd + z] * wv[((oc * cg + ci) * kh + p) * kw + q]
            } } }
            out[((b * o + oc) * oh + i) * ow + j] = s
        } } } }
        return out
    }

    @Test func conv2dMatchesDirectSummation() {
        let x = randomTensor([2, 4, 9, 8], seed: 1)
        for (stride, padding, dilation, groups) in [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 4), (3, 1, 2, 1)] {
            let w = randomTensor([4, 4 / groups, 3, 3], seed: 2)
            let y = x.conv2d(weight: w, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
            let expected = directConvolution(x, w, stride: stride, padding: padding, dilation: dilation, groups: groups)
            #expect(maxAbsDifference(y.doubles(), expected) < 1e-12, "s\(stride) p\(padding) d\(dilation) g\(groups)")
        }
    }

    /// im2col with the images' patch matrices side by side (as a convolution's chunk of images
    /// has them) against the definition, element by element; col2im against im2col by the
    /// adjoint identity ⟨col2im(C), X⟩ = ⟨C, im2col(X)⟩. The second shape is large enough to be
    /// split over threads (4·16 planes × 9 × 400 positions).
    @Test(arguments: [[3, 2, 7, 6], [4, 16, 20, 20]])
    func patchesSideBySideAndTheirAdjoint(shape: [Int]) {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let g = PatchGeometry(batch: n, channels: c, height: h, width: w, kernel: (h: 3, w: 2), stride: (h: 2, w: 1),
                              padding: (h: 1, w: 2), dilation: (h: 2, w: 1))
        let (length, rows) = (g.outHeight * g.outWidth, c * 3 * 2)
        let x = randomTensor(shape, seed: 11).doubles()
        var cols = [Double](repeating: .nan, count: rows * n * length)
        backend.im2col(x, &cols, g, rowStride: n * length, imageStride: length)
        var mismatches = 0
        for image in 0..<n { for channel in 0..<c { for i in 0..<3 { for j in 0..<2 {
            for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
                let (y, z) = (oy * 2 - 1 + i * 2, ox - 2 + j)
                let value = y >= 0 && y < h && z >= 0 && z < w ? x[((image * c + channel) * h + y) * w + z] : 0
                let row = (channel * 3 + i) * 2 + j
                if cols[row * n * length + image * length + oy * g.outWidth + ox] != value { mismatches += 1 }
            } }
        } } } }
        #expect(mismatches == 0)
        let cotangent = randomTensor([rows * n * length], seed: 12).doubles()
        var folded = [Double](repeating: .nan, count: x.count)
        backend.col2im(cotangent, &folded, g, rowStride: n * length, imageStride: length)
        let lhs = zip(folded, x).map { $0 * $1 }.reduce(0, +), rhs = zip(cotangent, cols).map { $0 * $1 }.reduce(0, +)
        #expect(Swift.abs(lhs - rhs) < 1e-12 * Swift.max(1, Swift.abs(rhs)))
    }

    /// Large enough (2·8 planes × 9 kernel rows × 1600 positions, past 2¹⁶) to be split over
    /// threads: undilated by the direct convolution, dilated by im2col and the backward's col2im.
    @Test(arguments: [1, 2])
    func threadedConvolutionMatchesDirectSummationAndGradchecks(dilation: Int) {
        let x = randomTensor([2, 8, 40, 40], seed: 3), w = randomTensor([8, 8, 3, 3], seed: 4)
        let y = x.conv2d(weight: w, padding: (dilation, dilation), dilation: (dilation, dilation))
        let expected = directConvolution(x, w, stride: 1, padding: dilation, dilation: dilation, groups: 1)
        #expect(maxAbsDifference(y.doubles(), expected) < 1e-12)
        expectGradcheck([x, w], mode: .randomDirections(count: 3)) {
            $0[0].conv2d(weight: $0[1], padding: (dilation, dilation), dilation: (dilation, dilation))
        }
    }

    /// The fused convolution's backward kernel (gradients accumulated image by image, the
    /// 1×1 path without im2col) against the composite's (unfold + matmul, differentiated by
    /// the tape), in Float64, for both gradients; and second derivatives, which come from
    /// the composite, by gradcheck of the first.
    /// Outputs and gradients of the fused convolution against the composite. The input sizes
    /// cover its three ways of grouping images (`ConvolutionLayout.chunk`): all three images
    /// in one gemm (7 × 6), chunks of four with one image left over (12 × 11, stride 1), and
    /// one image a gemm, a pointwise one multiplying the image in place (24 × 23, stride 1).
    @Test(arguments: [[3, 4, 7, 6], [5, 4, 12, 11], [2, 4, 24, 23]])
    func fusedConvolutionGradientsMatchTheComposite(shape: [Int]) {
        let x = randomTensor(shape, seed: 5).requiringGrad()
        for (kernel, stride, padding, dilation, groups) in [(1, 1, 0, 1, 1), (1, 2, 0, 1, 2), (3, 1, 1, 1, 1), (3, 2, 2, 2, 4), (2, 1, 0, 1, 2)] {
            let w = randomTensor([8, 4 / groups, kernel, kernel], seed: 6).requiringGrad()
            let y = x.conv2d(weight: w, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
            let cotangent = randomTensor([shape[0], 8] + Array(y.shape.suffix(2)), seed: 7)
            let expected = x.compositeConv2d(weight: w, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
            #expect(maxAbsDifference(y.doubles(), expected.doubles()) < 1e-12, "k\(kernel) s\(stride) p\(padding) d\(dilation) g\(groups): output")
            let fused = gradients(of: [x.conv2d(weight: w, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)],
                                  wrt: [x, w], cotangents: [cotangent])
            let composite = gradients(of: [x.compositeConv2d(weight: w, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)],
                                      wrt: [x, w], cotangents: [cotangent])
            for (i, name) in ["input", "weight"].enumerated() {
                #expect(maxAbsDifference(fused[i].doubles(), composite[i].doubles()) < 1e-12,
                        "k\(kernel) s\(stride) p\(padding) d\(dilation) g\(groups): \(name) gradient")
            }
        }
        guard shape[0] == 3 else { return }
        let w = randomTensor([4, 2, 3, 3], seed: 8)
        expectGradcheck([x.detached(), w]) { v in
            // gradcheck's numerical passes run untracked, without recording: this one records.
            enableGrad {
                let input = v[0].requiresGrad ? v[0] : v[0].requiringGrad()
                let y = input.conv2d(weight: v[1], padding: (1, 1), groups: 2)
                return gradient(of: (y * y).sum(), wrt: input, createGraph: true)
            }
        }
    }

    @Test func poolingByHand() {
        let x = Tensor((0..<16).map(Double.init), shape: [1, 1, 4, 4])
        expectClose(x.maxPool2d(kernel: (2, 2)), [5, 7, 13, 15])
        expectClose(x.avgPool2d(kernel: (2, 2)), [2.5, 4.5, 10.5, 12.5])
        // Padding 1 with a 3×3 window and stride 2: the corner window sees 0, 1, 4, 5 (+ padding).
        expectClose(x.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), [5, 7, 13, 15])
        expectClose(x.avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), [10.0 / 9, 24.0 / 9, 51.0 / 9, 90.0 / 9])
        // Adaptive pooling of 4 → 3 uses windows [0,2), [1,3), [2,4).
        expectClose(x.adaptiveAvgPool2d(outputSize: (3, 3)).slice(axis: 2, start: 0, end: 1), [2.5, 3.5, 4.5])
        // Float planes without NaN take the row-at-once scan, the others the window-by-window
        // one: both give the max gradient to the first maximum of each window, even for tied
        // windows, and send the gradient of a window of −∞ to its first cell inside the image.
        for dtype in [DType.float64, .float32] {
            let flat = Tensor.zeros([1, 1, 2, 2], dtype: dtype).requiringGrad()
            flat.maxPool2d(kernel: (2, 2)).sum().backward()
            expectClose(flat.grad!, [1, 0, 0, 0])
            let negative = Tensor.full([1, 1, 4, 4], value: -.infinity, dtype: dtype).requiringGrad()
            negative.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).sum().backward()
            expectClose(negative.grad!, [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            // Values from {0, 1, 2}: most windows tie. Each window's first maximum by plain loops.
            let (height, width) = (9, 21)
            let levels = (0..<2 * height * width).map { Double(($0 * 7 + $0 / 5) % 3) }
            let ties = Tensor(levels, shape: [1, 2, height, width]).cast(to: dtype).requiringGrad()
            ties.maxPool2d(kernel: (3, 3), stride: (2, 1), padding: (1, 1)).sum().backward()
            var expected = [Double](repeating: 0, count: levels.count)
            for plane in 0..<2 {
                for oy in 0..<(height - 1) / 2 + 1 {
                    for ox in 0..<width {
                        var best = -1
                        for y in oy * 2 - 1...oy * 2 + 1 where y >= 0 && y < height {
                            for x in ox - 1...ox + 1 where x >= 0 && x < width {
                                let index = (plane * height + y) * width + x
                                if best < 0 || levels[index] > levels[best] { best = index }
                            }
                        }
                        expected[best] += 1
                    }
                }
            }
            #expect(ties.grad!.doubles() == expected, "\(dtype)")
        }
        // A NaN in a window is its maximum (as in PyTorch); it reaches only that window.
        let withNaN = Tensor([1, .nan, 3, 4, 5, 6, 7, 8, 9] as [Double], shape: [1, 1, 3, 3]).maxPool2d(kernel: (2, 2), stride: (1, 1))
        #expect(withNaN.doubles()[0].isNaN && withNaN.doubles()[1].isNaN && withNaN.doubles()[2...] == [8, 9])
        // Against the definition (pad with −∞, unfold, first maximum of each window) on
        // 2·5 planes of 23 × 23, split between threads, with strides, padding and dilation
        // along either axis.
        let images = [randomTensor([2, 5, 23, 23], seed: 61), randomTensor([2, 5, 23, 23], seed: 61).cast(to: .float32)]
        let windowShapes = [((3, 5), (2, 1), (1, 2), (1, 2)), ((2, 3), (1, 2), (1, 1), (2, 1))]
        for image in images {
            for (kernel, stride, padding, dilation) in windowShapes {
                let windows = image.padded([(padding.0, padding.0), (padding.1, padding.1)], value: -.infinity)
                    .unfold(kernel: kernel, stride: stride, dilation: dilation)
                let oh = (23 + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
                let ow = (23 + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
                let expected = windows.reshaped([2, 5, kernel.0 * kernel.1, oh * ow]).max(axis: 2)
                #expect(image.maxPool2d(kernel: kernel, stride: stride, padding: padding, dilation: dilation).doubles() == expected.doubles(),
                        "\(image.dtype) kernel \(kernel)")
            }
        }
    }

    @Test func interpolationByHand() {
        let x = Tensor([1, 2, 3, 4] as [Double], shape: [1, 1, 2, 2])
        expectClose(x.interpolateNearest(size: (4, 4)), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        // align_corners=False: output 0 of 4 maps to source −0.25 → clamped to 0; output 1 to 0.25.
        expectClose(x.interpolateBilinear(size: (1, 4)), [2, 2.25, 2.75, 3])
        let image = Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [1, 1, 2, 3])
        // grid (x, y) = (0, 0) is the image centre: between pixels (0.5, 1) → mean of 2 and 5.
        let grid = Tensor([0, 0, -1, -1, 2, 0] as [Double], shape: [1, 1, 3, 2])
        // (-1, -1) is the outer corner of pixel (0,0): ix = iy = −0.5 → a quarter of pixel 1.
        expectClose(image.gridSample(grid), [3.5, 0.25, 0])
    }
}

@Suite struct OpenBLASCoreChoice {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
    let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]

    @Test func weakerKernelsThanTheCPUsAreUpgraded() {
        // Debian's OpenBLAS falls back to Prescott on CPUs it does not know; environments pin Haswell.
        #expect(OpenBLASCore.upgrade(running: "Prescott", cpuFlags: avx512) == "SkylakeX")
        #expect(OpenBLASCore.upgrade(running: "Haswell", cpuFlags: avx512) == "SkylakeX")
        #expect(OpenBLASCore.upgrade(running: "SkylakeX", cpuFlags: avx512) == nil)
        #expect(OpenBLASCore.upgrade(running: "CooperLake", cpuFlags: avx512) == nil)
        #expect(OpenBLASCore.upgrade(running: "Sandybridge", cpuFlags: avx2) == "Haswell")
        #expect(OpenBLASCore.upgrade(running: "Zen", cpuFlags: avx2) == nil)
        // Without AVX2 there is nothing better to ask for; AVX-512F alone is not enough for SkylakeX.
        #expect(OpenBLASCore.upgrade(running: "Prescott", cpuFlags: ["sse3", "avx"]) == nil)
        #expect(OpenBLASCore.upgrade(running: "Prescott", cpuFlags: avx2.union(["avx512f"])) == "Haswell")
    }
}
