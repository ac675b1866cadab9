import Testing
@testable import Tapestry

@Suite struct TensorBasics {
    @Test func creationAndReading() {
        let t = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(t.shape == [2, 3] && t.dtype == .float32 && t.count == 6)
        #expect(t.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(Tensor.zeros([2, 2]).doubles() == [0, 0, 0, 0])
        #expect(Tensor.full([3], value: 2.5, dtype: .float64).doubles() == [2.5, 2.5, 2.5])
        #expect(Tensor.arange(0, 5, dtype: .int64).scalars(as: Int64.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25, dtype: .float64).doubles() == [1, 1.25, 1.5, 1.75])
        #expect(Tensor.linspace(0, 1, count: 5, dtype: .float64).doubles() == [0, 0.25, 0.5, 0.75, 1])
        #expect(Tensor.eye(2, 3, dtype: .int32).doubles() == [1, 0, 0, 0, 1, 0])
        #expect(Tensor(scalar: 3).item() == 3)
    }

    @Test func dtypeConversions() {
        let t = Tensor([1.7, -2.5, 0, 300] as [Double])
        #expect(t.cast(to: .int64).scalars(as: Int64.self) == [1, -2, 0, 300])
        #expect(t.cast(to: .float32).scalars(as: Float.self) == [1.7, -2.5, 0, 300])
        #expect(t.cast(to: .bool).doubles() == [1, 1, 0, 1])
        #expect(Tensor([3, 4] as [Int32]).cast(to: .float64).doubles() == [3, 4])
    }

    @Test func seededRandomIsReproducible() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let x = Tensor.normal([1000], dtype: .float64, generator: &a)
        let y = Tensor.normal([1000], dtype: .float64, generator: &b)
        let z = Tensor.normal([1000], dtype: .float64, generator: &c)
        #expect(x.doubles() == y.doubles())
        #expect(x.doubles() != z.doubles())
        // Moments of 1000 standard normals: mean within 4σ/√n, variance within 15%.
        #expect(Swift.abs(x.mean().item()) < 4 / 1000.0.squareRoot())
        #expect(Swift.abs(x.variance().item() - 1) < 0.15)
        let u = Tensor.uniform([1000], low: 2, high: 3, dtype: .float64, generator: &a).doubles()
        #expect(u.allSatisfy { $0 >= 2 && $0 < 3 })
        // The stream continues: a second draw differs from the first.
        #expect(Tensor.normal([4], generator: &b).doubles() != Tensor.normal([4], generator: &c).doubles())
    }

    /// A fill large enough for the kernel threads to split holds the values the scalar
    /// stream (`nextUniform`) gives one by one, in order, in both element types, and the
    /// generator moves past all of them.
    @Test func largeUniformFillIsTheScalarStream() {
        let count = 100_003
        for dtype in [DType.float32, .float64] {
            var filled = RandomGenerator(seed: 9), drawn = RandomGenerator(seed: 9)
            let values = Tensor.uniform([count], low: -1, high: 3, dtype: dtype, generator: &filled).doubles()
            let stream = (0..<count).map { _ in -1 + drawn.nextUniform() * 4 }
            let expected = dtype == .float32 ? stream.map { Double(Float($0)) } : stream
            let differing = zip(values, expected).filter { $0 != $1 }.count
            #expect(differing == 0, "\(dtype): \(differing) of \(count) values differ from the scalar stream")
            #expect(filled == drawn)
        }
    }

    @Test func broadcastingArithmetic() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3])
        let b = Tensor([10, 20, 30] as [Double], shape: [3])
        let c = Tensor([100, 200] as [Double], shape: [2, 1])
        expectClose(a + b, [11, 22, 33, 14, 25, 36])
        expectClose(a * c, [100, 200, 300, 800, 1000, 1200])
        expectClose(a - 1, [0, 1, 2, 3, 4, 5])
        expectClose(1 / Tensor([2, 4] as [Double]), [0.5, 0.25])
        expectClose(Tensor([7, -7] as [Int64]) / Tensor([2, 2] as [Int64]), [3, -3])
    }

    @Test func reductions() {
        let a = Tensor([1, 5, 3, 4, 2, 6] as [Double], shape: [2, 3])
        expectClose(a.sum(), [21])
        expectClose(a.sum(axis: 0), [5, 7, 9])
        expectClose(a.sum(axis: 1, keepDim: true), [9, 12])
        #expect(a.sum(axis: 1, keepDim: true).shape == [2, 1])
        expectClose(a.mean(axis: -1), [3, 4])
        expectClose(a.max(axis: 1), [5, 6])
        expectClose(a.min(axis: 0), [1, 2, 3])
        #expect(a.argmax(axis: 1).scalars(as: Int64.self) == [1, 2])
        #expect(a.argmin(axis: 0).scalars(as: Int64.self) == [0, 1, 0])
        // Unbiased variance of [1, 5, 3]: mean 3, squares 4 + 4 + 0 = 8, / 2 = 4.
        expectClose(a.variance(axes: [1]), [4, 4])
        expectClose(a.variance(axes: [1], correction: 0), [8.0 / 3, 8.0 / 3])
        expectClose(a.cumsum(axis: 1), [1, 6, 9, 4, 6, 12])
        expectClose(a.cumsum(axis: 0), [1, 5, 3, 5, 7, 9])
        #expect(Tensor([1, 2, 3] as [Int64]).sum().scalars(as: Int64.self) == [6])
    }

    @Test func viewsShareStorageAndReadCorrectly() {
        let a = Tensor((0..<24).map(Double.init), shape: [2, 3, 4])
        let p = a.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3] && !p.isContiguous && p.storage === a.storage)
        #expect(p.contiguous().doubles()[0..<6] == [0, 4, 8, 12, 16, 20])
        let s = a.slice(axis: 2, start: 1, end: 4, step: 2)
        #expect(s.shape == [2, 3, 2] && s.storage === a.storage)
        #expect(s.doubles() == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23])
        #expect(a.slice(axis: -1, start: -1).doubles() == [3, 7, 11, 15, 19, 23])
        #expect(a.select(axis: 1, index: 2).doubles() == [8, 9, 10, 11, 20, 21, 22, 23])
        #expect(a.reshaped([6, -1]).shape == [6, 4])
        #expect(a.reshaped([4, 6]).storage === a.storage)
        let f = Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3]).flipped(axes: [1])
        #expect(f.doubles() == [3, 2, 1, 6, 5, 4])
        let e = Tensor([1, 2] as [Double], shape: [2, 1]).expanded(to: [3, 2, 4])
        #expect(e.shape == [3, 2, 4] && e.strides[0] == 0 && e.doubles().filter { $0 == 2 }.count == 12)
        #expect(Tensor.zeros([1, 3, 1]).squeezed().shape == [3])
        #expect(Tensor.zeros([3]).unsqueezed(axis: 0).unsqueezed(axis: -1).shape == [1, 3, 1])
        #expect(a.transposed(0, 2).shape == [4, 3, 2])
        #expect(a.flattened(from: 1).shape == [2, 12])
    }

    @Test func assemblingAndIndexing() {
        let a = Tensor([1, 2, 3, 4] as [Double], shape: [2, 2])
        let b = Tensor([5, 6] as [Double], shape: [1, 2])
        expectClose(Tensor.concat([a, b], axis: 0), [1, 2, 3, 4, 5, 6])
        #expect(Tensor.stack([a, a], axis: 1).shape == [2, 2, 2])
        expectClose(Tensor.stack([a, a], axis: 1), [1, 2, 1, 2, 3, 4, 3, 4])
        let parts = Tensor.arange(0, 5, dtype: .float64).split(sizes: [2, 3], axis: 0)
        expectClose(parts[1], [2, 3, 4])
        expectClose(a.padded([(1, 0), (0, 2)], value: 9), [9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9])
        let idx = Tensor([1, 0, 1] as [Int64], shape: [1, 3])
        expectClose(Tensor([10, 20, 30, 40, 50, 60] as [Double], shape: [2, 3]).gather(axis: 0, index: idx), [40, 20, 60])
        expectClose(a.indexSelect(axis: 1, index: Tensor([1, 1, 0] as [Int64])), [2, 2, 1, 4, 4, 3])
        let scattered = Tensor.zeros([3], dtype: .float64).scatterAdd(axis: 0, index: Tensor([0, 2, 0] as [Int64]), source: Tensor([1, 2, 3] as [Double]))
        expectClose(scattered, [4, 0, 2])
        let mask = Tensor([true, false, false, true] as [Bool8], shape: [2, 2])
        expectClose(a.maskedFill(mask, value: -1), [-1, 2, 3, -1])
        expectClose(Tensor.where(mask, a, Tensor.zeros([], dtype: .float64)), [1, 0, 0, 4])
    }

    @Test func sortingAndTopK() {
        let x = Tensor([3, 1, 2, 1, 5, 4] as [Double], shape: [2, 3])
        let (values, indices) = x.sorted(axis: 1)
        expectClose(values, [1, 2, 3, 1, 4, 5])
        #expect(indices.scalars(as: Int64.self) == [1, 2, 0, 0, 2, 1])
        let top = x.topk(2, axis: 1)
        expectClose(top.values, [3, 2, 5, 4])
        #expect(top.indices.scalars(as: Int64.self) == [0, 2, 1, 2])
        // Stable: equal keys keep their order.
        #expect(Tensor([2, 1, 2, 1] as [Double]).argsort().scalars(as: Int64.self) == [1, 3, 0, 2])
        #expect(Tensor([2, 1, 2, 1] as [Double]).argsort(descending: true).scalars(as: Int64.self) == [0, 2, 1, 3])
    }

    @Test func comparisonsProduceMasks() {
        let a = Tensor([1, 2, 3] as [Double])
        let m = a .> 1.5
        #expect(m.dtype == .bool && m.doubles() == [0, 1, 1])
        #expect((a .<= 2).doubles() == [1, 1, 0])
        #expect((a .== Tensor([1, 0, 3] as [Double])).doubles() == [1, 0, 1])
        #expect(m.logicalAnd(a .< 3).doubles() == [0, 1, 0])
        #expect(m.logicalOr(a .< 2).doubles() == [1, 1, 1])
        #expect(m.logicalNot().doubles() == [1, 0, 0])
    }

    /// The small input runs the row kernel on one thread; the large one (153,600 elements,
    /// past 2¹⁷) splits its rows over threads.
    @Test func fusedSoftmaxMatchesTheComposite() {
        for x in [randomTensor([3, 5, 7], seed: 3, low: -30, high: 30), randomTensor([300, 512], seed: 4, low: -30, high: 30)] {
            for axis in 0..<x.rank {
                for log in [false, true] {
                    let fused = log ? x.logSoftmax(axis: axis) : x.softmax(axis: axis)
                    #expect(maxAbsDifference(fused.doubles(), x.compositeSoftmax(axis: axis, log: log).doubles()) < 1e-12)
                    // The backward kernel against the composite differentiated by the tape.
                    let tracked = x.requiringGrad(), cotangent = randomTensor(x.shape, seed: 5)
                    let kernel = gradient(of: ((log ? tracked.logSoftmax(axis: axis) : tracked.softmax(axis: axis)) * cotangent).sum(), wrt: tracked)
                    let composite = gradient(of: (tracked.compositeSoftmax(axis: axis, log: log) * cotangent).sum(), wrt: tracked)
                    #expect(maxAbsDifference(kernel.doubles(), composite.doubles()) < 1e-12, "axis \(axis), log \(log), \(x.shape)")
                }
            }
        }
        // A NaN anywhere in a row makes the whole row NaN, wherever it falls among the vector lanes.
        for position in [0, 5, 8, 16, 18] {
            var values = (0..<19).map { Double($0) / 7 }
            values[position] = .nan
            let row = Tensor(values, shape: [1, 19], dtype: .float32).softmax().doubles()
            #expect(row.allSatisfy { $0.isNaN }, "NaN at \(position)")
        }
        // Masked rows: −∞ entries get probability 0; a fully masked row is NaN (as in PyTorch).
        let masked = Tensor([0, -Double.infinity, 0, -Double.infinity, -Double.infinity, -Double.infinity], shape: [2, 3]).softmax()
        #expect(Array(masked.doubles()[0..<3]) == [0.5, 0, 0.5] && masked.doubles()[3...].allSatisfy(\.isNaN))
    }

    /// The one-pass per-channel affine map equals `x * scale + shift` bit for bit (same
    /// operations, same order), on an input large enough to be split between threads; its
    /// gradients for input, scale and shift by gradcheck.
    @Test func channelAffineEqualsMultiplyThenAdd() {
        var rng = RandomGenerator(seed: 14)
        let x = Tensor.normal([3, 16, 40, 41], generator: &rng)
        let (scale, shift) = (Tensor.normal([16], generator: &rng), Tensor.normal([16], generator: &rng))
        #expect(x.channelAffine(scale: scale, shift: shift).scalars(as: Float.self)
                == (x * scale.reshaped([16, 1, 1]) + shift.reshaped([16, 1, 1])).scalars(as: Float.self))
        expectGradcheck([randomTensor([2, 3, 4, 5], seed: 15), randomTensor([3], seed: 16), randomTensor([3], seed: 17)]) {
            $0[0].channelAffine(scale: $0[1], shift: $0[2])
        }
        expectGradcheck([randomTensor([2, 3, 4], seed: 18), randomTensor([3], seed: 19), randomTensor([3], seed: 20)]) {
            $0[0].channelAffine(scale: $0[1], shift: $0[2])
        }
    }

    /// Training-mode batch norm's kernels against the formula written with tensor ops
    /// (outputs, statistics and all three gradients, Float64), small and split between
    /// threads; gradcheck of the kernel; second derivatives (through the composite) by
    /// gradcheck of the first.
    @Test func fusedBatchNormMatchesTheComposite() {
        for (shape, seed) in [([3, 4, 5, 6], UInt64(21)), ([4, 16, 24, 24], 22), ([5, 3, 7], 23)] {
            let x = randomTensor(shape, seed: seed, low: -2, high: 3).requiringGrad()
            let (w, b) = (randomTensor([shape[1]], seed: seed + 10).requiringGrad(), randomTensor([shape[1]], seed: seed + 20).requiringGrad())
            let cotangent = randomTensor(shape, seed: seed + 30)
            let (fused, mean, variance) = x.batchNormTraining(weight: w, bias: b, eps: 1e-5)
            let composite = x.compositeBatchNorm(weight: w, bias: b, eps: 1e-5)
            #expect(maxAbsDifference(fused.doubles(), composite.doubles()) < 1e-12, "\(shape)")
            let axes = [0] + Array(2..<shape.count)
            #expect(maxAbsDifference(mean.doubles(), x.mean(axes: axes).doubles()) < 1e-12)
            #expect(maxAbsDifference(variance.doubles(), x.variance(axes: axes, correction: 0).doubles()) < 1e-12)
            let kernel = gradients(of: [fused], wrt: [x, w, b], cotangents: [cotangent])
            let reference = gradients(of: [composite], wrt: [x, w, b], cotangents: [cotangent])
            for (i, name) in ["input", "weight", "bias"].enumerated() {
                #expect(maxAbsDifference(kernel[i].doubles(), reference[i].doubles()) < 1e-11, "\(shape): \(name) gradient")
            }
        }
        let inputs = [randomTensor([2, 3, 4, 3], seed: 24), randomTensor([3], seed: 25), randomTensor([3], seed: 26)]
        expectGradcheck(inputs) { $0[0].batchNormTraining(weight: $0[1], bias: $0[2], eps: 1e-5).output }
        expectGradcheck(inputs) { v in
            // gradcheck's numerical passes run untracked, without recording: this one records.
            enableGrad {
                let input = v[0].requiresGrad ? v[0] : v[0].requiringGrad()
                let y = input.batchNormTraining(weight: v[1], bias: v[2], eps: 1e-5).output
                return gradient(of: (y * y * y).sum(), wrt: input, createGraph: true)
            }
        }
    }

    /// (The unary ops are checked element by element in `BackendAgreement`.)
    @Test func clampPowerAndSoftmaxMatchFoundation() {
        let xs: [Double] = [-2, -0.5, 0.3, 1.7]
        let t = Tensor(xs)
        expectClose(t.clamped(min: -1, max: 1), [-1, -0.5, 0.3, 1])
        expectClose(t.abs().pow(1.5), xs.map { Foundation.pow(Swift.abs($0), 1.5) })
        expectClose(t.softmax(), { let e = xs.map { Foundation.exp($0) }; let s = e.reduce(0, +); return e.map { $0 / s } }())
    }
}

import Foundation

@Suite struct BufferReuse {
    @Test func largeBuffersAreReusedWithinTheLimit() {
        let pool = BufferPool(limit: 1 << 20)
        let size = BufferPool.minimumPooledBytes + 1000
        let a = pool.allocate(byteCount: size)
        pool.release(a, byteCount: size)
        #expect(pool.cachedBytes == BufferPool.minimumPooledBytes + 4096)
        let b = pool.allocate(byteCount: size + 1000)   // same page-rounded bucket
        #expect(a == b, "a freed buffer of the same bucket is handed out again")
        #expect(pool.cachedBytes == 0)
        // Beyond the limit, buffers go back to the system instead of the cache.
        let big = pool.allocate(byteCount: 2 << 20)
        pool.release(big, byteCount: 2 << 20)
        #expect(pool.cachedBytes == 0)
        pool.release(b, byteCount: size)
        pool.empty()
        #expect(pool.cachedBytes == 0)
    }

    @Test func reusedBuffersCarryNoStaleValuesIntoZeros() {
        for _ in 0..<3 {
            #expect(Tensor.full([1 << 17], value: 7).sum().item() == Double(7 << 17))   // 512 KiB: pooled, then freed
            #expect(Tensor.zeros([1 << 17]).sum().item() == 0)
        }
    }
}
