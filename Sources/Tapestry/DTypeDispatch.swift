/// Running generic code for a dtype known only at run time.
///
/// Swift has no generic closures, so an operation that must run for "whatever element
/// type this tensor holds" is written as a small struct conforming to `ElementKernel`
/// (or `FloatKernel`), and `DType.dispatch` calls it with the concrete Swift type. Because
/// the struct's type is known at the call site, the compiler specializes the whole kernel
/// for each element type; no per-element dynamic dispatch remains.

/// Generic code over every element type.
protocol ElementKernel {
    func run<T: TensorElement>(_ type: T.Type)
}

/// Generic code over the floating-point element types.
protocol FloatKernel {
    func run<T: FloatElement>(_ type: T.Type)
}

extension DType {
    func dispatch<K: ElementKernel>(_ kernel: K) {
        switch self {
        case .float32: kernel.run(Float.self)
        case .float64: kernel.run(Double.self)
        case .int64: kernel.run(Int64.self)
        case .int32: kernel.run(Int32.self)
        case .uint8: kernel.run(UInt8.self)
        case .bool: kernel.run(Bool8.self)
        }
    }

    /// Runs a floating-point kernel; `operation` names the caller in the error for other dtypes.
    func dispatchFloat<K: FloatKernel>(_ kernel: K, operation: StaticString = #function) {
        switch self {
        case .float32: kernel.run(Float.self)
        case .float64: kernel.run(Double.self)
        default: fatalError("\(operation): needs a floating-point tensor, got \(self)")
        }
    }
}
