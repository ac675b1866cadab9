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
                            let token = neighbours.token(0, 0)!
                            let r00 = value.value + g.valueOffset(b: b, token: token, head: m)
                            let r01 = value.value + g.valueOffset(b: b, token: token + 1, head: m)
                            let r10 = value.value + g.valueOffset(b: b, token: token + level.width, head: m)
                            let r11 = value.value + g.valueOffset(b: b, token: token + level.width + 1, head: m)
                            let (w00, w01) = (attention * neighbours.weight(0, 0), attention * neighbours.weight(0, 1))
                            let (w10, w11) = (attention * neighbours.weight(1, 0), attention * neighbours.weight(1, 1))
                            for i in 0..<c { target[i] += w00 * r00[i] + w01 * r01[i] + w10 * r10[i] + w11 * r11[i] }
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
                            for dy in 0...1 {
                                for dx in 0...1 {
                                    guard let token = neighbours.token(dy, dx) else { continue }
                                    let offset = g.valueOffset(b: b, token: token, head: m)
                                    let dot = VectorRows.dot(upstream, value.value + offset, c)
                                    if let gradValue = gValue.value {
                                        let target = gradValue + offset
                                        let w = attention * neighbours.weight(dy, dx)
                                        for i in 0..<c { target[i] += w * upstream[i] }
                                    }
                                    dots[2 * dy + dx] = dot
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
}
