/// The fused multi-scale deformable sampling kernel and its backward pass (the work of
/// Deformable-DETR's CUDA `ms_deform_im2col` / `col2im` kernels, on the CPU).
///
/// For each (batch b, query q, head m, level l, point p) the location (x, y) ∈ [0, 1]² maps
/// to pixel coordinates u = x·W_l − ½, v = y·H_l − ½ (grid_sample, align_corners=False); the
/// four neighbours ⌊u⌋, ⌊u⌋+1 × ⌊v⌋, ⌊v⌋+1 get bilinear weights, neighbours outside the
/// level contribute 0, and the result is weighted by the attention weight. Work is split
/// over (b, m) pairs, which write disjoint parts of every output, so threads never collide.

extension Backend {
    public func deformableSampling<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                                    _ out: UnsafeMutablePointer<T>, _ g: DeformableGeometry) {
        let shared = DeformablePointers(value: value, locations: locations, weights: weights, out: out)
        let work = g.batch * g.queries * g.heads * g.levels.count * g.points * g.channels
        Parallel.forEach(g.batch * g.heads, parallel: work > 1 << 15) { item in
            let (b, m) = (item / g.heads, item % g.heads)
            let c = g.channels
            for q in 0..<g.queries {
                let target = shared.out + ((b * g.queries + q) * g.heads + m) * c
                target.initialize(repeating: 0, count: c)
                forEachSample(g, b: b, q: q, m: m, shared: shared) { weight, corners in
                    for (tokenIndex, cornerWeight) in corners {
                        let source = shared.value + ((b * g.tokens + tokenIndex) * g.heads + m) * c
                        let w = weight * cornerWeight
                        for i in 0..<c { target[i] += w * source[i] }
                    }
                }
            }
        }
    }

    public func deformableSamplingBackward<T: FloatElement>(_ value: UnsafePointer<T>, _ locations: UnsafePointer<T>, _ weights: UnsafePointer<T>,
                                                            _ gradOut: UnsafePointer<T>, _ gradValue: UnsafeMutablePointer<T>,
                                                            _ gradLocations: UnsafeMutablePointer<T>, _ gradWeights: UnsafeMutablePointer<T>,
                                                            _ g: DeformableGeometry) {
        let shared = DeformablePointers(value: value, locations: locations, weights: weights, out: gradValue)
        let (gOut, gLoc, gW) = (UnsafeSendable(gradOut), UnsafeSendable(gradLocations),
                                UnsafeSendable(gradWeights))
        let work = g.batch * g.queries * g.heads * g.levels.count * g.points * g.channels
        Parallel.forEach(g.batch * g.heads, parallel: work > 1 << 15) { item in
            let (b, m) = (item / g.heads, item % g.heads)
            let c = g.channels
            for q in 0..<g.queries {
                let upstream = gOut.value + ((b * g.queries + q) * g.heads + m) * c
                for (l, level) in g.levels.enumerated() {
                    for p in 0..<g.points {
                        let index = (((b * g.queries + q) * g.heads + m) * g.levels.count + l) * g.points + p
                        let x = shared.locations[2 * index], y = shared.locations[2 * index + 1]
                        let weight = shared.weights[index]
                        let u = x * T(level.width) - 0.5, v = y * T(level.height) - 0.5
                        let u0 = u.rounded(.down), v0 = v.rounded(.down)
                        let (fx, fy) = (u - u0, v - v0)
                        let (ix, iy) = (Int(u0.asDouble), Int(v0.asDouble))   // through Double: a concrete, inlined conversion
                        // Dot products of the upstream gradient with the four neighbours (0 outside).
                        func neighbour(_ dy: Int, _ dx: Int) -> T {
                            let (yy, xx) = (iy + dy, ix + dx)
                            guard yy >= 0 && yy < level.height && xx >= 0 && xx < level.width else { return 0 }
                            let token = level.start + yy * level.width + xx
                            let source = shared.value + ((b * g.tokens + token) * g.heads + m) * c
                            let target = shared.out + ((b * g.tokens + token) * g.heads + m) * c
                            let cornerWeight = (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy)
                            var dot = T.zero
                            for i in 0..<c {
                                dot += upstream[i] * source[i]
                                target[i] += weight * cornerWeight * upstream[i]
                            }
                            return dot
                        }
                        let (d00, d01, d10, d11) = (neighbour(0, 0), neighbour(0, 1), neighbour(1, 0), neighbour(1, 1))
                        gW.value[index] = (1 - fx) * (1 - fy) * d00 + fx * (1 - fy) * d01 + (1 - fx) * fy * d10 + fx * fy * d11
                        let du = (1 - fy) * (d01 - d00) + fy * (d11 - d10)
                        let dv = (1 - fx) * (d10 - d00) + fx * (d11 - d01)
                        gLoc.value[2 * index] = weight * du * T(level.width)
                        gLoc.value[2 * index + 1] = weight * dv * T(level.height)
                    }
                }
            }
        }
    }
}

struct DeformablePointers<T>: @unchecked Sendable {
    let value: UnsafePointer<T>
    let locations: UnsafePointer<T>
    let weights: UnsafePointer<T>
    let out: UnsafeMutablePointer<T>
}

/// Calls `body(attentionWeight, [(token, bilinear weight)])` for each (level, point) sample
/// of query q, head m, with the neighbours that lie inside their level.
@inline(__always)
func forEachSample<T: FloatElement>(_ g: DeformableGeometry, b: Int, q: Int, m: Int, shared: DeformablePointers<T>,
                                    _ body: (T, [(Int, T)]) -> Void) {
    var corners: [(Int, T)] = []
    corners.reserveCapacity(4)
    for (l, level) in g.levels.enumerated() {
        for p in 0..<g.points {
            let index = (((b * g.queries + q) * g.heads + m) * g.levels.count + l) * g.points + p
            let u = shared.locations[2 * index] * T(level.width) - 0.5, v = shared.locations[2 * index + 1] * T(level.height) - 0.5
            let u0 = u.rounded(.down), v0 = v.rounded(.down)
            let (fx, fy) = (u - u0, v - v0)
            let (ix, iy) = (Int(u0.asDouble), Int(v0.asDouble))   // through Double: a concrete, inlined conversion
            corners.removeAll(keepingCapacity: true)
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (yy, xx) = (iy + dy, ix + dx)
                guard yy >= 0 && yy < level.height && xx >= 0 && xx < level.width else { continue }
                corners.append((level.start + yy * level.width + xx, (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy)))
            }
            body(shared.weights[index], corners)
        }
    }
}
