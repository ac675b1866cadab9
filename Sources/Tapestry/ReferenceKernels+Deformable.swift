/// The fused multi-scale deformable sampling kernel and its backward pass (the work of
/// Deformable-DETR's CUDA `ms_deform_im2col` / `col2im` kernels, on the CPU).
///
/// For each (batch b, query q, head m, level l, point p) the location (x, y) ∈ [0, 1]² maps
/// to pixel coordinates u = x·W_l − ½, v = y·H_l − ½ (grid_sample, align_corners=False); the
/// four neighbours ⌊u⌋, ⌊u⌋+1 × ⌊v⌋, ⌊v⌋+1 get bilinear weights, neighbours outside the
/// level contribute 0, and the result is weighted by the attention weight.
///
/// Threads never collide: the forward pass splits the work over (b, m) pairs, which write
/// disjoint outputs. The backward pass does too when each head has its own value channels;
/// when the heads share one value tensor (`valueHeads` 1) their value gradients land on the
/// same rows, so it splits over b alone and each thread runs every head of its images.

extension Backend {
    public func deformableSampling<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                                    _ out: UnsafeMutablePointer<T>, _ g: DeformableGeometry) {
        let (value, locations, weights, out) = (UnsafeSendable(value), UnsafeSendable(locations), UnsafeSendable(weights),
                                                UnsafeSendable(out))
        let work = g.batch * g.queries * g.heads * g.levels.count * g.points * g.channels
        Parallel.forEach(g.batch * g.heads, parallel: work > 1 << 15) { item in
            let (b, m) = (item / g.heads, item % g.heads)
            let c = g.channels
            for q in 0..<g.queries {
                let target = out.value + ((b * g.queries + q) * g.heads + m) * c
                target.initialize(repeating: 0, count: c)
                for (l, level) in g.levels.enumerated() {
                    for p in 0..<g.points {
                        let index = g.sampleIndex(b: b, q: q, m: m, l: l, p: p)
                        let neighbours = BilinearNeighbours(x: locations.value[2 * index], y: locations.value[2 * index + 1], level: level)
                        let attention = weights.value[index]
                        if neighbours.areAllInside {
                            // The common case in one pass over the channels.
                            let rows = FourRows(value.value, g, b: b, head: m, neighbours: neighbours)
                            rows.accumulate(into: target, weights: attention * neighbours.weights, count: c)
                            continue
                        }
                        for dy in 0...1 {
                            for dx in 0...1 {
                                guard let token = neighbours.token(dy, dx) else { continue }
                                let source = value.value + g.valueOffset(b: b, token: token, head: m)
                                let w = attention * neighbours.weight(dy, dx)
                                for i in 0..<c { target[i] += w * source[i] }
                            }
                        }
                    }
                }
            }
        }
    }

    public func deformableSamplingBackward<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                                            _ gradOut: UnsafePointer<T>, _ gradValue: UnsafeMutablePointer<T>?,
                                                            _ gradLocations: UnsafeMutablePointer<T>, _ gradWeights: UnsafeMutablePointer<T>,
                                                            _ g: DeformableGeometry) {
        let (value, locations, weights) = (UnsafeSendable(value), UnsafeSendable(locations), UnsafeSendable(weights))
        let (gOut, gValue, gLoc, gW) = (UnsafeSendable(gradOut), UnsafeSendable(gradValue), UnsafeSendable(gradLocations),
                                        UnsafeSendable(gradWeights))
        let work = g.batch * g.queries * g.heads * g.levels.count * g.points * g.channels
        // Each item is one (b, m) pair, or one image with all its heads when they share value rows.
        let headsPerItem = g.valueHeads == 1 && gradValue != nil ? g.heads : 1
        Parallel.forEach(g.batch * g.heads / headsPerItem, parallel: work > 1 << 15) { item in
            let (b, firstHead) = (item * headsPerItem / g.heads, item * headsPerItem % g.heads)
            let c = g.channels
            for m in firstHead..<(firstHead + headsPerItem) {
                for q in 0..<g.queries {
                    let upstream = gOut.value + ((b * g.queries + q) * g.heads + m) * c
                    for (l, level) in g.levels.enumerated() {
                        for p in 0..<g.points {
                            let index = g.sampleIndex(b: b, q: q, m: m, l: l, p: p)
                            let neighbours = BilinearNeighbours(x: locations.value[2 * index], y: locations.value[2 * index + 1], level: level)
                            let attention = weights.value[index]
                            // dots[2·dy + dx]: the upstream gradient · neighbour (dy, dx)'s value (0 outside the level).
                            var dots = SIMD4<T>()
                            if neighbours.areAllInside {
                                // The common case in one pass over the channels per neighbour row.
                                dots = FourRows(value.value, g, b: b, head: m, neighbours: neighbours).dots(with: upstream, count: c)
                                if let gradValue = gValue.value {
                                    FourRows(UnsafePointer(gradValue), g, b: b, head: m, neighbours: neighbours)
                                        .add(upstream, weights: attention * neighbours.weights, count: c)
                                }
                            } else {
                                for dy in 0...1 {
                                    for dx in 0...1 {
                                        guard let token = neighbours.token(dy, dx) else { continue }
                                        let offset = g.valueOffset(b: b, token: token, head: m)
                                        dots[2 * dy + dx] = VectorRows.dot(upstream, value.value + offset, c)
                                        if let gradValue = gValue.value {
                                            let target = gradValue + offset
                                            let w = attention * neighbours.weight(dy, dx)
                                            for i in 0..<c { target[i] += w * upstream[i] }
                                        }
                                    }
                                }
                            }
                            let (fx, fy) = (neighbours.fx, neighbours.fy)
                            let (d00, d01, d10, d11) = (dots[0], dots[1], dots[2], dots[3])
                            gW.value[index] = (1 - fx) * (1 - fy) * d00 + fx * (1 - fy) * d01 + (1 - fx) * fy * d10 + fx * fy * d11
                            let du = (1 - fy) * (d01 - d00) + fy * (d11 - d10)
                            let dv = (1 - fx) * (d10 - d00) + fx * (d11 - d01)
                            gLoc.value[2 * index] = attention * du * T(level.width)
                            gLoc.value[2 * index + 1] = attention * dv * T(level.height)
                        }
                    }
                }
            }
        }
    }
}

extension DeformableGeometry {
    /// Index of sample (b, q, m, l, p) in the weights [B, Lq, M, L, P] (and, times 2, the locations).
    @inline(__always) func sampleIndex(b: Int, q: Int, m: Int, l: Int, p: Int) -> Int {
        (((b * queries + q) * heads + m) * levels.count + l) * points + p
    }
}

/// A sampling location's four bilinear neighbours on its level: the top-left neighbour
/// (⌊u⌋, ⌊v⌋) of the pixel coordinates u = x·W − ½, v = y·H − ½, and the fractional parts.
struct BilinearNeighbours<T: FloatElement> {
    let ix, iy: Int
    let fx, fy: T
    let level: DeformableGeometry.LevelShape

    @inline(__always) init(x: T, y: T, level: DeformableGeometry.LevelShape) {
        let u = x * T(level.width) - 0.5, v = y * T(level.height) - 0.5
        let u0 = u.rounded(.down), v0 = v.rounded(.down)
        (fx, fy) = (u - u0, v - v0)
        (ix, iy) = (Int(u0.asDouble), Int(v0.asDouble))   // through Double: a concrete, inlined conversion
        self.level = level
    }

    /// Token of neighbour (⌊v⌋ + dy, ⌊u⌋ + dx), nil outside the level (it contributes 0).
    @inline(__always) func token(_ dy: Int, _ dx: Int) -> Int? {
        let (yy, xx) = (iy + dy, ix + dx)
        guard yy >= 0 && yy < level.height && xx >= 0 && xx < level.width else { return nil }
        return level.start + yy * level.width + xx
    }

    /// True when all four neighbours lie inside the level.
    var areAllInside: Bool { ix >= 0 && ix + 1 < level.width && iy >= 0 && iy + 1 < level.height }

    /// Bilinear weight of neighbour (dy, dx).
    @inline(__always) func weight(_ dy: Int, _ dx: Int) -> T {
        (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy)
    }

    /// The four bilinear weights, indexed 2·dy + dx.
    var weights: SIMD4<T> { SIMD4(weight(0, 0), weight(0, 1), weight(1, 0), weight(1, 1)) }
}

/// The value rows of a sample's four neighbours when all lie inside its level, indexed
/// 2·dy + dx, for the kernels' one-pass-over-the-channels paths (8 lanes at a time).
struct FourRows<T: FloatElement> {
    let r00, r01, r10, r11: UnsafePointer<T>

    @inline(__always) init(_ base: UnsafePointer<T>, _ g: DeformableGeometry, b: Int, head m: Int, neighbours: BilinearNeighbours<T>) {
        let token = neighbours.token(0, 0)!
        r00 = base + g.valueOffset(b: b, token: token, head: m)
        r01 = base + g.valueOffset(b: b, token: token + 1, head: m)
        r10 = base + g.valueOffset(b: b, token: token + neighbours.level.width, head: m)
        r11 = base + g.valueOffset(b: b, token: token + neighbours.level.width + 1, head: m)
    }

    /// target[i] += Σ_k w[k]·row_k[i].
    @inline(__always) func accumulate(into target: UnsafeMutablePointer<T>, weights w: SIMD4<T>, count n: Int) {
        var i = 0
        while i &+ 8 <= n {
            var sum: SIMD8<T> = w[0] * VectorRows.load(r00 + i)
            sum += w[1] * VectorRows.load(r01 + i)
            sum += w[2] * VectorRows.load(r10 + i)
            sum += w[3] * VectorRows.load(r11 + i)
            VectorRows.store(VectorRows.load(target + i) + sum, target + i)
            i &+= 8
        }
        while i < n {
            var sum: T = w[0] * r00[i]
            sum += w[1] * r01[i]
            sum += w[2] * r10[i]
            sum += w[3] * r11[i]
            target[i] += sum
            i &+= 1
        }
    }

    /// row_k[i] += w[k]·source[i] for each of the four rows (rows of a gradient buffer).
    @inline(__always) func add(_ source: UnsafePointer<T>, weights w: SIMD4<T>, count n: Int) {
        let (g00, g01, g10, g11) = (UnsafeMutablePointer(mutating: r00), UnsafeMutablePointer(mutating: r01),
                                    UnsafeMutablePointer(mutating: r10), UnsafeMutablePointer(mutating: r11))
        @inline(__always) func update(_ row: UnsafeMutablePointer<T>, _ i: Int, _ x: SIMD8<T>, _ weight: T) {
            VectorRows.store(VectorRows.load(row + i) + weight * x, row + i)
        }
        var i = 0
        while i &+ 8 <= n {
            let x = VectorRows.load(source + i)
            update(g00, i, x, w[0]); update(g01, i, x, w[1]); update(g10, i, x, w[2]); update(g11, i, x, w[3])
            i &+= 8
        }
        while i < n {
            g00[i] += w[0] * source[i]; g01[i] += w[1] * source[i]; g10[i] += w[2] * source[i]; g11[i] += w[3] * source[i]
            i &+= 1
        }
    }

    /// (Σ_i x[i]·row_k[i]) for the four rows.
    @inline(__always) func dots(with x: UnsafePointer<T>, count n: Int) -> SIMD4<T> {
        var (a00, a01, a10, a11) = (SIMD8<T>(), SIMD8<T>(), SIMD8<T>(), SIMD8<T>())
        var i = 0
        while i &+ 8 <= n {
            let v = VectorRows.load(x + i)
            a00 += v * VectorRows.load(r00 + i); a01 += v * VectorRows.load(r01 + i)
            a10 += v * VectorRows.load(r10 + i); a11 += v * VectorRows.load(r11 + i)
            i &+= 8
        }
        var dots = SIMD4(a00.sum(), a01.sum(), a10.sum(), a11.sum())
        while i < n { dots += x[i] * SIMD4(r00[i], r01[i], r10[i], r11[i]); i &+= 1 }
        return dots
    }
}
