/// Element-wise arithmetic with NumPy broadcasting, and the elementary functions, each
/// with its derivative rule (written with tensor operations, so it is itself differentiable).

extension Tensor {
    // MARK: Unary functions

    func unary(_ op: UnaryOp) -> Tensor {
        struct Map: FloatKernel {
            let op: UnaryOp, input: Tensor, out: Tensor
            func run<T: FloatElement>(_: T.Type) {
                backend.unary(op, input.pointer(T.self), out.pointer(T.self), count: out.count)
            }
        }
        let input = contiguous().detached()
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        dtype.dispatchFloat(Map(op: op, input: input, out: out), operation: "unary function")
        return out
    }

    public func exp() -> Tensor {
        let y = unary(.exp)
        return y.recorded("exp", [self]) { g in [g * Tensor.output(y) { self.exp() }] }
    }
    public func log() -> Tensor { unary(.log).recorded("log", [self]) { g in [g / self] } }
    public func sin() -> Tensor { unary(.sin).recorded("sin", [self]) { g in [g * self.cos()] } }
    public func cos() -> Tensor { unary(.cos).recorded("cos", [self]) { g in [-g * self.sin()] } }
    /// log(1 + x), accurate for small x.
    public func log1p() -> Tensor { unary(.log1p).recorded("log1p", [self]) { g in [g / (self + 1)] } }
    public func sqrt() -> Tensor {
        let y = unary(.sqrt)
        return y.recorded("sqrt", [self]) { g in [g * 0.5 / Tensor.output(y) { self.sqrt() }] }
    }
    public func rsqrt() -> Tensor {
        let y = unary(.rsqrt)
        return y.recorded("rsqrt", [self]) { g in
            let y = Tensor.output(y) { self.rsqrt() }
            return [g * -0.5 * y * y * y]
        }
    }
    public func abs() -> Tensor { unary(.abs).recorded("abs", [self]) { g in [g * self.sign()] } }
    /// max(x, 0), NaN kept. Its gradient is g where x > 0 and 0 elsewhere (0 also where g is
    /// ±∞ or NaN, as PyTorch's), in one pass over g and x; when the backward is itself
    /// recorded, as the differentiable g·(x > 0).
    public func relu() -> Tensor {
        unary(.relu).recorded("relu", [self]) { g in
            if GradMode.isEnabled { return [g * (self .> 0).cast(to: g.dtype)] }
            return [g.passed(where: self)]
        }
    }

    /// g where x > 0, else 0: ReLU's gradient, threaded over contiguous ranges.
    func passed(where x: Tensor) -> Tensor {
        check(shape == x.shape && dtype == x.dtype, "relu gradient: \(dtype) \(shape) against input \(x.dtype) \(x.shape)")
        struct Kernel: FloatKernel {
            let g: Tensor, x: Tensor, out: Tensor
            func run<T: FloatElement>(_: T.Type) {
                let pointers = UnsafeSendable((g.pointer(T.self), x.pointer(T.self), out.pointer(T.self)))
                Parallel.forRanges(out.count) { range in
                    let (g, x, out) = pointers.value
                    for i in range { out[i] = x[i] > 0 ? g[i] : 0 }
                }
            }
        }
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        dtype.dispatchFloat(Kernel(g: detached().contiguous(), x: x.detached().contiguous(), out: out), operation: "relu gradient")
        return out
    }
    public func sigmoid() -> Tensor {
        let y = unary(.sigmoid)
        return y.recorded("sigmoid", [self]) { g in
            let y = Tensor.output(y) { self.sigmoid() }
            return [g * y * (1 - y)]
        }
    }
    public func tanh() -> Tensor {
        let y = unary(.tanh)
        return y.recorded("tanh", [self]) { g in
            let y = Tensor.output(y) { self.tanh() }
            return [g * (1 - y * y)]
        }
    }
    /// GELU with the exact erf form: x·Φ(x) (Hendrycks & Gimpel, 2016).
    public func gelu() -> Tensor {
        unary(.gelu).recorded("gelu", [self]) { g in
            let cdf = 0.5 * (1 + (self * 0.7071067811865476).erf())
            let pdf = (self * self * -0.5).exp() * 0.3989422804014327
            return [g * (cdf + self * pdf)]
        }
    }
    /// log(1 + eˣ), passing x through above 20 like PyTorch's default Softplus.
    public func softplus() -> Tensor {
        unary(.softplus).recorded("softplus", [self]) { g in [Tensor.where(self .> 20, g, g * self.sigmoid())] }
    }
    public func erf() -> Tensor {
        unary(.erf).recorded("erf", [self]) { g in [g * 1.1283791670955126 * (self * self * -1).exp()] }
    }
    public func reciprocal() -> Tensor {
        let y = unary(.reciprocal)
        return y.recorded("reciprocal", [self]) { g in
            let y = Tensor.output(y) { self.reciprocal() }
            return [g * -1 * y * y]
        }
    }
    /// -1, 0 or 1 (not differentiable: no gradient flows).
    public func sign() -> Tensor { unary(.sign) }
    /// Rounds down (not differentiable: no gradient flows).
    public func floor() -> Tensor { unary(.floor) }

    public static prefix func - (x: Tensor) -> Tensor {
        x.unary(.neg).recorded("neg", [x]) { g in [-g] }
    }

    // MARK: Binary functions

    func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        check(dtype == other.dtype, "\(op): dtypes differ (\(dtype) and \(other.dtype)); cast one first")
        guard let outShape = shape == other.shape ? shape : broadcastShapes([shape, other.shape]) else {
            fatalError("\(op): shapes \(shape) and \(other.shape) do not broadcast")
        }
        struct Map: ElementKernel {
            let op: BinaryOp, a: Tensor, b: Tensor, out: Tensor
            func run<T: TensorElement>(_: T.Type) {
                backend.binary(op, a.operand(T.self, broadcastTo: out.shape), b.operand(T.self, broadcastTo: out.shape),
                               out.pointer(T.self), shape: out.shape)
            }
        }
        let out = Tensor(uninitializedShape: outShape, dtype: dtype)
        dtype.dispatch(Map(op: op, a: self, b: other, out: out))
        return out
    }

    /// A scalar as a rank-0 tensor of this tensor's dtype.
    func scalar(_ value: Double) -> Tensor { Tensor(scalar: value, dtype: dtype) }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        a.binary(.add, b).recorded("add", [a, b]) { g in [ifTracked(a) { g.summed(toShape: a.shape) }, ifTracked(b) { g.summed(toShape: b.shape) }] }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        a.binary(.sub, b).recorded("sub", [a, b]) { g in [ifTracked(a) { g.summed(toShape: a.shape) }, ifTracked(b) { (-g).summed(toShape: b.shape) }] }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        a.binary(.mul, b).recorded("mul", [a, b]) { g in [ifTracked(a) { (g * b).summed(toShape: a.shape) }, ifTracked(b) { (g * a).summed(toShape: b.shape) }] }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        a.binary(.div, b).recorded("div", [a, b]) { g in
            [ifTracked(a) { (g / b).summed(toShape: a.shape) }, ifTracked(b) { (g * -1 * a / (b * b)).summed(toShape: b.shape) }]
        }
    }

    /// self raised to `exponent`, element-wise.
    public func pow(_ exponent: Tensor) -> Tensor {
        let y = binary(.pow, exponent)
        return y.recorded("pow", [self, exponent]) { g in
            let da = g * exponent * self.pow(exponent - 1)
            // d/db aᵇ = aᵇ log a, taken as 0 where a = 0 and b ≥ 0 (as PyTorch does).
            let zeroBase = (self .== 0).logicalAnd(exponent .>= 0)
            let db = Tensor.where(zeroBase, Tensor.zeros(like: g), g * Tensor.output(y) { self.pow(exponent) } * self.log())
            return [da.summed(toShape: self.shape), db.summed(toShape: exponent.shape)]
        }
    }
    public func pow(_ exponent: Double) -> Tensor {
        let e = scalar(exponent)
        return binary(.pow, e).recorded("pow", [self]) { g in [g * exponent * self.pow(exponent - 1)] }
    }

    /// Element-wise maximum; at ties the gradient is split evenly (as PyTorch does).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        a.binary(.maximum, b).recorded("maximum", [a, b]) { g in
            let half = (a .== b).cast(to: g.dtype) * 0.5
            return [(g * ((a .> b).cast(to: g.dtype) + half)).summed(toShape: a.shape),
                    (g * ((b .> a).cast(to: g.dtype) + half)).summed(toShape: b.shape)]
        }
    }
    /// Element-wise minimum; at ties the gradient is split evenly.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        a.binary(.minimum, b).recorded("minimum", [a, b]) { g in
            let half = (a .== b).cast(to: g.dtype) * 0.5
            return [(g * ((a .< b).cast(to: g.dtype) + half)).summed(toShape: a.shape),
                    (g * ((b .< a).cast(to: g.dtype) + half)).summed(toShape: b.shape)]
        }
    }

    /// Limits values to [min, max]; the gradient passes where min ≤ x ≤ max.
    public func clamped(min low: Double? = nil, max high: Double? = nil) -> Tensor {
        var y = detached()
        if let low { y = y.binary(.maximum, scalar(low)) }
        if let high { y = y.binary(.minimum, scalar(high)) }
        return y.recorded("clamp", [self]) { g in
            var inside = Tensor.ones(like: g)
            if let low { inside = inside * (self .>= low).cast(to: g.dtype) }
            if let high { inside = inside * (self .<= high).cast(to: g.dtype) }
            return [g * inside]
        }
    }

    /// `a` where `condition` is true, else `b` (all three broadcast together).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        check(condition.dtype == .bool, "where: condition must be a bool mask, got \(condition.dtype)")
        check(a.dtype == b.dtype, "where: branches differ in dtype (\(a.dtype), \(b.dtype))")
        guard let outShape = broadcastShapes([condition.shape, a.shape, b.shape]) else {
            fatalError("where: shapes \(condition.shape), \(a.shape), \(b.shape) do not broadcast")
        }
        struct Select: ElementKernel {
            let condition: Tensor, a: Tensor, b: Tensor, out: Tensor
            func run<T: TensorElement>(_: T.Type) {
                backend.select(condition.operand(Bool8.self, broadcastTo: out.shape), a.operand(T.self, broadcastTo: out.shape),
                               b.operand(T.self, broadcastTo: out.shape), out.pointer(T.self), shape: out.shape)
            }
        }
        let out = Tensor(uninitializedShape: outShape, dtype: a.dtype)
        a.dtype.dispatch(Select(condition: condition, a: a, b: b, out: out))
        return out.recorded("where", [a, b]) { g in
            let zero = Tensor.zeros([], dtype: g.dtype)
            return [ifTracked(a) { Tensor.where(condition, g, zero).summed(toShape: a.shape) },
                    ifTracked(b) { Tensor.where(condition, zero, g).summed(toShape: b.shape) }]
        }
    }

    /// `value` where `mask` is true, else self.
    public func maskedFill(_ mask: Tensor, value: Double) -> Tensor {
        Tensor.where(mask, scalar(value), self)
    }
}

// MARK: Scalar operands

extension Tensor {
    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalar(b) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalar(a) + b }
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalar(b) }
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalar(a) - b }
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalar(b) }
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalar(a) * b }
    public static func / (a: Tensor, b: Double) -> Tensor { a / a.scalar(b) }
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalar(a) / b }
}

// MARK: Comparisons and masks

extension Tensor {
    func compare(_ op: CompareOp, _ other: Tensor) -> Tensor {
        check(dtype == other.dtype, "comparison: dtypes differ (\(dtype) and \(other.dtype))")
        guard let outShape = broadcastShapes([shape, other.shape]) else {
            fatalError("comparison: shapes \(shape) and \(other.shape) do not broadcast")
        }
        struct Compare: ElementKernel {
            let op: CompareOp, a: Tensor, b: Tensor, out: Tensor
            func run<T: TensorElement>(_: T.Type) {
                backend.compare(op, a.operand(T.self, broadcastTo: out.shape), b.operand(T.self, broadcastTo: out.shape),
                                out.pointer(Bool8.self), shape: out.shape)
            }
        }
        let out = Tensor(uninitializedShape: outShape, dtype: .bool)
        dtype.dispatch(Compare(op: op, a: self, b: other, out: out))
        return out
    }

    public static func .== (a: Tensor, b: Tensor) -> Tensor { a.compare(.equal, b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { a.compare(.notEqual, b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { a.compare(.less, b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { a.compare(.lessEqual, b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { a.compare(.greater, b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { a.compare(.greaterEqual, b) }
    public static func .== (a: Tensor, b: Double) -> Tensor { a.compare(.equal, a.scalar(b)) }
    public static func .!= (a: Tensor, b: Double) -> Tensor { a.compare(.notEqual, a.scalar(b)) }
    public static func .< (a: Tensor, b: Double) -> Tensor { a.compare(.less, a.scalar(b)) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { a.compare(.lessEqual, a.scalar(b)) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a.compare(.greater, a.scalar(b)) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { a.compare(.greaterEqual, a.scalar(b)) }

    /// Element-wise AND of two bool masks.
    public func logicalAnd(_ other: Tensor) -> Tensor {
        check(dtype == .bool && other.dtype == .bool, "logicalAnd: needs bool masks")
        return binary(.mul, other)
    }
    /// Element-wise OR of two bool masks.
    public func logicalOr(_ other: Tensor) -> Tensor {
        check(dtype == .bool && other.dtype == .bool, "logicalOr: needs bool masks")
        return binary(.add, other)
    }
    /// Element-wise NOT of a bool mask.
    public func logicalNot() -> Tensor {
        check(dtype == .bool, "logicalNot: needs a bool mask")
        return compare(.equal, Tensor(scalar: 0, dtype: .bool))
    }
}
