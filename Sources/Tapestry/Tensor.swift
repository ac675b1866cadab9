/// An n-dimensional array with a run-time dtype, a view over shared `Storage`
/// (shape, strides, offset), and, when it takes part in differentiation, a link to the tape.
///
/// `Tensor` is a value type: copying one is cheap and shares storage. Movement operations
/// (reshape, permute, slice, expand, flip) return views without copying where they can.
/// Operations never modify their inputs.
public struct Tensor: @unchecked Sendable {
    let storage: Storage
    /// Size of each axis.
    public let shape: [Int]
    /// Elements to step in storage per unit step along each axis (may be 0 or negative).
    public let strides: [Int]
    /// Position of element [0, 0, ...] in storage, in elements.
    let offset: Int
    public let dtype: DType
    /// Tape information: present when this tensor requires a gradient.
    var autograd: AutogradInfo?

    init(storage: Storage, shape: [Int], strides: [Int], offset: Int, dtype: DType, autograd: AutogradInfo? = nil) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
        self.autograd = autograd
    }

    /// A new contiguous tensor with uninitialised elements.
    init(uninitializedShape shape: [Int], dtype: DType) {
        check(shape.allSatisfy { $0 >= 0 }, "Tensor: negative size in shape \(shape)")
        let count = elementCount(shape)
        self.init(storage: Storage(byteCount: count &* dtype.byteSize), shape: shape,
                  strides: contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    /// A tensor holding `values` in row-major order with the given shape.
    public init<T: TensorElement>(_ values: [T], shape: [Int]) {
        check(elementCount(shape) == values.count,
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(uninitializedShape: shape, dtype: T.dtype)
        let dst = storage.pointer(T.self)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { dst.update(from: base, count: src.count) }
        }
    }

    /// A one-dimensional tensor holding `values`.
    public init<T: TensorElement>(_ values: [T]) { self.init(values, shape: [values.count]) }

    /// A tensor of the given dtype whose elements are `values` converted from Double.
    public init(_ values: [Double], shape: [Int], dtype: DType) {
        self = Tensor(values, shape: shape).cast(to: dtype)
    }

    /// A rank-0 tensor holding one value.
    public init(scalar value: Double, dtype: DType = .float32) {
        self.init([value], shape: [], dtype: dtype)
    }

    // MARK: Properties

    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { elementCount(shape) }

    /// True when the elements are laid out row-major without gaps from `offset`.
    public var isContiguous: Bool { isDense(shape: shape, strides: strides) }

    /// Typed pointer to element [0, 0, ...].
    func pointer<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        check(MemoryLayout<T>.stride == dtype.byteSize, "Tensor: reading \(dtype) as \(T.self)")
        return storage.pointer(T.self, offset: offset)
    }

    // MARK: Reading values

    /// All elements in row-major order. The dtype must match `T` exactly.
    public func scalars<T: TensorElement>(as type: T.Type = T.self) -> [T] {
        check(T.dtype == dtype, "scalars(as:): tensor is \(dtype), asked for \(T.dtype)")
        let source = contiguous()
        return Array(UnsafeBufferPointer(start: source.pointer(T.self), count: source.count))
    }

    /// Calls `body` with the elements' bytes in row-major order (a contiguous copy when the
    /// tensor is a strided view).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let source = contiguous()
        return try withExtendedLifetime(source) {
            try body(UnsafeRawBufferPointer(start: source.storage.base + source.offset * dtype.byteSize, count: source.count * dtype.byteSize))
        }
    }

    /// The first element, row-major, that is NaN or infinite, and its value; nil when every
    /// element is finite (always for integer dtypes).
    public var firstNonFinite: (index: Int, value: Double)? {
        func scan<T: BinaryFloatingPoint>(_: T.Type) -> (index: Int, value: Double)? {
            withUnsafeBytes { bytes in
                let values = bytes.bindMemory(to: T.self)
                return values.firstIndex { !$0.isFinite }.map { ($0, Double(values[$0])) }
            }
        }
        switch dtype {
        case .float32: return scan(Float.self)
        case .float64: return scan(Double.self)
        default: return nil
        }
    }

    /// All elements converted to Double, row-major.
    public func doubles() -> [Double] {
        switch dtype {
        case .float32: return scalars(as: Float.self).map(Double.init)
        case .float64: return scalars(as: Double.self)
        case .int64: return scalars(as: Int64.self).map(Double.init)
        case .int32: return scalars(as: Int32.self).map(Double.init)
        case .uint8: return scalars(as: UInt8.self).map(Double.init)
        case .bool: return scalars(as: Bool8.self).map(\.asDouble)
        }
    }

    /// The single element of a one-element tensor, as Double.
    public func item() -> Double {
        check(count == 1, "item(): tensor of shape \(shape) has \(count) elements, not 1")
        return doubles()[0]
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = doubles()
        let shown = values.prefix(8).map { v -> String in
            dtype.isFloatingPoint ? String(v) : String(Int64(v))
        }.joined(separator: ", ")
        let more = values.count > 8 ? ", … (\(values.count) elements)" : ""
        let grad = requiresGrad ? ", requiresGrad" : ""
        return "Tensor(\(dtype), shape \(shape)\(grad): [\(shown)\(more)])"
    }
}
