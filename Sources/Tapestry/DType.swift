import Foundation

/// The element type of a tensor, chosen at run time.
///
/// Float32 is the working precision; Float64 exists so gradient checks are exact;
/// Int64/Int32 hold indices and labels; UInt8 and Bool hold masks (one byte each).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int64, int32, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    public var description: String { rawValue }
}

/// Element types that a tensor can hold. Each knows its `DType` and converts through Double,
/// which is exact for every value these types can hold except Int64 beyond 2^53.
public protocol TensorElement: Numeric, Comparable, Sendable {
    static var dtype: DType { get }
    init(fromDouble value: Double)
    var asDouble: Double { get }
    /// a / b (truncating for integers).
    static func divide(_ a: Self, _ b: Self) -> Self
    /// True for NaN (floating point only).
    var isNaNValue: Bool { get }
}

extension TensorElement {
    public var isNaNValue: Bool { false }
}

extension TensorElement where Self: BinaryInteger {
    public static func divide(_ a: Self, _ b: Self) -> Self {
        check(b != 0, "integer division by zero")
        return a / b
    }
}

extension TensorElement where Self: BinaryFloatingPoint {
    public static func divide(_ a: Self, _ b: Self) -> Self { a / b }
    public var isNaNValue: Bool { isNaN }
}

/// Floating-point element types: the ones operations differentiate through.
/// The elementary functions are spelled out here so kernels can be generic over Float and Double.
public protocol FloatElement: TensorElement, BinaryFloatingPoint, SIMDScalar, Codable {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: FloatElement {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    public var asDouble: Double { Double(self) }
    public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    public static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    public static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: FloatElement {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    public var asDouble: Double { self }
    public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    public static func log(_ x: Double) -> Double { Foundation.log(x) }
    public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

extension Int64: TensorElement {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = value.isFinite ? Int64(value.rounded(.towardZero)) : 0 }
    public var asDouble: Double { Double(self) }
}

extension Int32: TensorElement {
    public static var dtype: DType { .int32 }
    public init(fromDouble value: Double) { self = value.isFinite ? Int32(clamping: Int64(value.rounded(.towardZero))) : 0 }
    public var asDouble: Double { Double(self) }
}

extension UInt8: TensorElement {
    public static var dtype: DType { .uint8 }
    public init(fromDouble value: Double) { self = value.isFinite ? UInt8(truncatingIfNeeded: Int64(value.rounded(.towardZero))) : 0 }
    public var asDouble: Double { Double(self) }
}

/// A one-byte boolean element (0 or 1), the dtype of masks and comparisons.
public struct Bool8: TensorElement, ExpressibleByBooleanLiteral, Hashable {
    public var rawValue: UInt8
    public init(_ value: Bool) { rawValue = value ? 1 : 0 }
    public init(booleanLiteral value: Bool) { self.init(value) }
    public var value: Bool { rawValue != 0 }
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self.init(value != 0) }
    public var asDouble: Double { value ? 1 : 0 }
    // Numeric conformance, so masks can be summed and multiplied like PyTorch's bool tensors.
    public init?<T: BinaryInteger>(exactly source: T) { guard source == 0 || source == 1 else { return nil }; self.init(source == 1) }
    public init(integerLiteral value: Int) { self.init(value != 0) }
    public var magnitude: UInt8 { rawValue }
    public static func + (a: Bool8, b: Bool8) -> Bool8 { Bool8(a.value || b.value) }
    public static func - (a: Bool8, b: Bool8) -> Bool8 { Bool8(a.value != b.value) }
    public static func * (a: Bool8, b: Bool8) -> Bool8 { Bool8(a.value && b.value) }
    public static func += (a: inout Bool8, b: Bool8) { a = a + b }
    public static func -= (a: inout Bool8, b: Bool8) { a = a - b }
    public static func *= (a: inout Bool8, b: Bool8) { a = a * b }
    public static func < (a: Bool8, b: Bool8) -> Bool { a.rawValue < b.rawValue }
    public static func divide(_ a: Bool8, _ b: Bool8) -> Bool8 {
        check(b.value, "integer division by zero")
        return a
    }
}
