import Foundation

/// Resampling: adaptive average pooling, nearest and bilinear interpolation, and bilinear
/// grid sampling. All are written as gathers or as products with constant resampling
/// matrices, so their gradients follow from those ops.

extension Tensor {
    /// Adaptive average pooling (`F.adaptive_avg_pool2d`): output cell i averages input
    /// rows ⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉ (and likewise for columns). Computed as Pₕ · x · Pᵥᵀ.
    public func adaptiveAvgPool2d(outputSize: (Int, Int)) -> Tensor {
        check(rank >= 2, "adaptiveAvgPool2d: needs [.., H, W], got \(shape)")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        func pooling(_ input: Int, _ output: Int) -> Tensor {
            var m = [Double](repeating: 0, count: output * input)
            for i in 0..<output {
                let start = (i * input) / output, end = ((i + 1) * input + output - 1) / output
                for j in start..<end { m[i * input + j] = 1 / Double(end - start) }
            }
            return Tensor(m, shape: [output, input], dtype: dtype)
        }
        return pooling(h, outputSize.0).matmul(self).matmul(pooling(w, outputSize.1).transposed())
    }

    /// Nearest-neighbour resize of the last two axes (`F.interpolate(mode='nearest')`):
    /// source index = Swift.min(⌊dst · in/out⌋, in − 1), with in/out as a float scale.
    public func interpolateNearest(size: (Int, Int)) -> Tensor {
        check(rank >= 2, "interpolateNearest: needs [.., H, W], got \(shape)")
        func sourceIndex(_ input: Int, _ output: Int) -> Tensor {
            let scale = Float(input) / Float(output)
            return Tensor((0..<output).map { Int64(Swift.min(Int((Float($0) * scale).rounded(.down)), input - 1)) })
        }
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        return indexSelect(axis: -2, index: sourceIndex(h, size.0)).indexSelect(axis: -1, index: sourceIndex(w, size.1))
    }

    /// Bilinear resize of the last two axes (`F.interpolate(mode='bilinear',
    /// align_corners=False)`): source = Swift.max((dst + ½)·in/out − ½, 0), blending the two
    /// nearest rows/columns. Computed as Lₕ · x · Lᵥᵀ.
    public func interpolateBilinear(size: (Int, Int)) -> Tensor {
        check(rank >= 2, "interpolateBilinear: needs [.., H, W], got \(shape)")
        func blend(_ input: Int, _ output: Int) -> Tensor {
            var m = [Double](repeating: 0, count: output * input)
            let scale = Double(input) / Double(output)
            for i in 0..<output {
                let source = Swift.max((Double(i) + 0.5) * scale - 0.5, 0)
                let i0 = Swift.min(Int(source), input - 1), i1 = Swift.min(i0 + 1, input - 1)
                let t = source - Double(i0)
                m[i * input + i0] += 1 - t
                m[i * input + i1] += t
            }
            return Tensor(m, shape: [output, input], dtype: dtype)
        }
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        return blend(h, size.0).matmul(self).matmul(blend(w, size.1).transposed())
    }

    /// Bilinear grid sampling (`F.grid_sample`, align_corners=False, zero padding).
    /// input [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [−1, 1] → [N, C, Ho, Wo].
    /// Pixel coordinates: ix = ((x + 1)·W − 1)/2, iy = ((y + 1)·H − 1)/2; corners outside
    /// the image contribute 0. Gradients reach both the input and the grid.
    public func gridSample(_ grid: Tensor) -> Tensor {
        check(rank == 4, "gridSample: input must be [N, C, H, W], got \(shape)")
        check(grid.rank == 4 && grid.shape[3] == 2 && grid.shape[0] == shape[0],
                     "gridSample: grid must be [N, Ho, Wo, 2] with N = \(shape[0]), got \(grid.shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (ho, wo) = (grid.shape[1], grid.shape[2])
        let ix = ((grid.select(axis: 3, index: 0) + 1) * Double(w) - 1) * 0.5   // [N, Ho, Wo]
        let iy = ((grid.select(axis: 3, index: 1) + 1) * Double(h) - 1) * 0.5
        let x0 = ix.detached().floor(), y0 = iy.detached().floor()
        let tx = ix - x0, ty = iy - y0
        let flat = reshaped([n, c, h * w])
        var out: Tensor?
        for (dy, dx) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)] {
            let xs = x0 + dx, ys = y0 + dy
            let inside = (xs .>= 0).logicalAnd(xs .<= Double(w - 1)).logicalAnd(ys .>= 0).logicalAnd(ys .<= Double(h - 1))
            let weight = (dx == 0 ? 1 - tx : tx) * (dy == 0 ? 1 - ty : ty) * inside.cast(to: dtype)
            let index = (ys.clamped(min: 0, max: Double(h - 1)) * Double(w) + xs.clamped(min: 0, max: Double(w - 1)))
                .cast(to: .int64).reshaped([n, 1, ho * wo]).expanded(to: [n, c, ho * wo])
            let term = flat.gather(axis: 2, index: index).reshaped([n, c, ho, wo]) * weight.unsqueezed(axis: 1)
            out = out.map { $0 + term } ?? term
        }
        return out!
    }
}
