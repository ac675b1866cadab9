import CFastMath

/// Float32 elementary functions written so the compiler vectorises loops over them
/// (branch-free, no library calls): C's `expf` costs ~3 ns an element, this `exp` in a
/// loop about a quarter of that. Float64 keeps the C library's functions: it is the
/// precision of gradient checks, not of training.
enum FastMath {
    /// eˣ within 1.5 ulp of the exact value, with `expf`'s edge cases (+∞ above
    /// 88.72, gradual underflow to 0 below −103.97, NaN kept).
    ///
    /// The edge cases come out of the arithmetic, with no comparison of their own: x is clamped
    /// to [−110, 100] (a NaN passes the clamp and spreads through it), where 2ⁿ's two
    /// powers stay normal numbers and their product rounds eʳ·2ⁿ to +∞ above 88.72 and
    /// to 0 below −103.97, as the exact value does. The 16-lane loop is 15 instructions with
    /// AVX-512's scaling (26 with the two powers, 34 comparing and blending instead).
    ///
    /// Cody & Waite's reduction (Cephes' `expf`): x = n·ln 2 + r with n = round(x/ln 2) and
    /// |r| ≤ ln 2 / 2, ln 2 split in two parts so n·ln 2 is exact; eʳ ≈ 1 + r + r²·P(r)
    /// with Cephes' degree-5 minimax P; then eˣ = eʳ·2ⁿ, with 2ⁿ applied as two powers of
    /// two, 2^⌊n/2⌋ and 2^(n − ⌊n/2⌋), so neither overflows nor is subnormal on its own.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        var c = x < Self.lowerClamp ? Self.lowerClamp : x
        c = c > Self.upperClamp ? Self.upperClamp : c
        // Round to nearest by adding 1.5·2²³: the sum's low mantissa bits hold n.
        let shifter: Float = 12582912
        let shifted = madd(c, 1.44269504088896341, shifter)
        let n = shifted - shifter
        let r = madd(n, 2.12194440e-4, madd(n, -0.693359375, c))
        var p: Float = 1.9875691500e-4
        p = madd(p, r, 1.3981999507e-3)
        p = madd(p, r, 8.3334519073e-3)
        p = madd(p, r, 4.1665795894e-2)
        p = madd(p, r, 1.6666665459e-1)
        p = madd(p, r, 5.0000001201e-1)
        let er = madd(p, r * r, r) + 1
        let exponent = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: shifter.bitPattern)
        let half = exponent &>> 1, rest = exponent &- half
        return er * Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
                  * Float(bitPattern: UInt32(bitPattern: (rest &+ 127) &<< 23))
    }

    /// `exp`'s clamp: e⁻¹¹⁰ rounds to 0 and e¹⁰⁰ to +∞, and 2ⁿ's halves stay normal between.
    static let lowerClamp: Float = -110, upperClamp: Float = 100

    /// `exp` of 16 lanes at once, with the same bits as lane by lane: the compiler turns a
    /// loop of scalar calls into 8-lane vectors, this uses AVX-512's 16. eʳ·2ⁿ is one
    /// instruction here (`tapestry_scale16`: `vscalefps`, rounded once as the two products are),
    /// instead of the nine that build and apply the two powers.
    @inline(__always)
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let lower = SIMD16<Float>(repeating: lowerClamp), upper = SIMD16<Float>(repeating: upperClamp)
        var c = x.replacing(with: lower, where: x .< lower)
        c = c.replacing(with: upper, where: c .> upper)
        let shifter = SIMD16<Float>(repeating: 12582912)
        let shifted = madd(c, SIMD16(repeating: 1.44269504088896341), shifter)
        let n = shifted - shifter
        let r = madd(n, SIMD16(repeating: 2.12194440e-4), madd(n, SIMD16(repeating: -0.693359375), c))
        var p = SIMD16<Float>(repeating: 1.9875691500e-4)
        p = madd(p, r, SIMD16(repeating: 1.3981999507e-3))
        p = madd(p, r, SIMD16(repeating: 8.3334519073e-3))
        p = madd(p, r, SIMD16(repeating: 4.1665795894e-2))
        p = madd(p, r, SIMD16(repeating: 1.6666665459e-1))
        p = madd(p, r, SIMD16(repeating: 5.0000001201e-1))
        let er = madd(p, r * r, r) + 1
        return tapestry_scale16(er, n)
    }

    /// y[i] = eˣ⁽ⁱ⁾ for i in 0..<count: 16 lanes at a time, the tail one by one.
    static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let lanes = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: exp(lanes), as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { y[i] = exp(x[i]); i += 1 }
    }

    /// a·b + c, fused where the build allows it (`-DTAPESTRY_FMA`).
    @inline(__always)
    static func madd(_ a: Float, _ b: Float, _ c: Float) -> Float {
        #if TAPESTRY_FMA
        c.addingProduct(a, b)
        #else
        a * b + c
        #endif
    }

    /// `madd` lane by lane.
    @inline(__always)
    static func madd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        #if TAPESTRY_FMA
        c.addingProduct(a, b)
        #else
        a * b + c
        #endif
    }
}

/// σ(x) = 1/(1 + e⁻ˣ), computed as eˣ/(1 + eˣ) for x < 0 so that it underflows gradually
/// instead of to 0 below −88.7 (Float32) or −709 (Float64).
@inline(__always)
func kernelSigmoid<T: FloatElement>(_ x: T) -> T {
    let e = kernelExp(-Swift.abs(x))
    let denominator = 1 + e
    return x >= 0 ? 1 / denominator : e / denominator
}

/// eˣ of any float element: `FastMath.exp` for Float32, the C library's for Float64.
@inline(__always)
func kernelExp<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(FastMath.exp(unsafeBitCast(x, to: Float.self)), to: T.self) }
    return T.exp(x)
}

/// y[i] = eˣ⁽ⁱ⁾ for i in 0..<count, of any float element: `FastMath`'s 16-lane exp for
/// Float32, the C library's for Float64. `x` and `y` may be the same buffer.
@inline(__always)
func kernelExp<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
        FastMath.exp(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), count: count)
    } else {
        for i in 0..<count { y[i] = T.exp(x[i]) }
    }
}
