#if canImport(Glibc)
import Glibc
#endif

/// Element types that support arithmetic. Integer arithmetic wraps and division by zero gives 0
/// (never a trap: the inputs come from outside).
protocol ArithmeticElement: TensorElement, Comparable {
    static var zero: Self { get }
    static var one: Self { get }
    static func add(_ a: Self, _ b: Self) -> Self
    static func sub(_ a: Self, _ b: Self) -> Self
    static func mul(_ a: Self, _ b: Self) -> Self
    static func div(_ a: Self, _ b: Self) -> Self
    static func mod(_ a: Self, _ b: Self, fmod: Bool) -> Self
    static func power(_ a: Self, _ b: Self) -> Self
    init(fromDouble value: Double)
    var doubleValue: Double { get }
    static var lowest: Self { get }
    static var highest: Self { get }
}

/// Floating-point element types (transcendental functions).
protocol FloatElement: ArithmeticElement, BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: FloatElement {
    static var lowest: Float { -.infinity }
    static var highest: Float { .infinity }
    static func add(_ a: Float, _ b: Float) -> Float { a + b }
    static func sub(_ a: Float, _ b: Float) -> Float { a - b }
    static func mul(_ a: Float, _ b: Float) -> Float { a * b }
    static func div(_ a: Float, _ b: Float) -> Float { a / b }
    static func mod(_ a: Float, _ b: Float, fmod: Bool) -> Float {
        let r = fmodf(a, b)
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r + b
    }
    static func power(_ a: Float, _ b: Float) -> Float { powf(a, b) }
    init(fromDouble value: Double) { self = Float(value) }
    var doubleValue: Double { Double(self) }
    static func exp(_ x: Float) -> Float { expf(x) }
    static func log(_ x: Float) -> Float { logf(x) }
    static func tanh(_ x: Float) -> Float { tanhf(x) }
    static func erf(_ x: Float) -> Float { erff(x) }
    static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: FloatElement {
    static var lowest: Double { -.infinity }
    static var highest: Double { .infinity }
    static func add(_ a: Double, _ b: Double) -> Double { a + b }
    static func sub(_ a: Double, _ b: Double) -> Double { a - b }
    static func mul(_ a: Double, _ b: Double) -> Double { a * b }
    static func div(_ a: Double, _ b: Double) -> Double { a / b }
    static func mod(_ a: Double, _ b: Double, fmod: Bool) -> Double {
        let r = Glibc.fmod(a, b)
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r + b
    }
    static func power(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
    init(fromDouble value: Double) { self = value }
    var doubleValue: Double { self }
    static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    static func log(_ x: Double) -> Double { Glibc.log(x) }
    static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
}

protocol IntegerElement: ArithmeticElement, FixedWidthInteger {}

extension IntegerElement {
    static var lowest: Self { .min }
    static var highest: Self { .max }
    static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    static func sub(_ a: Self, _ b: Self) -> Self { a &- b }
    static func mul(_ a: Self, _ b: Self) -> Self { a &* b }
    static func div(_ a: Self, _ b: Self) -> Self { b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue }
    static func mod(_ a: Self, _ b: Self, fmod: Bool) -> Self {
        guard b != 0 else { return 0 }
        let r = a.remainderReportingOverflow(dividingBy: b).partialValue
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r &+ b
    }
    static func power(_ a: Self, _ b: Self) -> Self {
        if b < 0 { return a == 1 ? 1 : (a == -1 ? (b & 1 == 0 ? 1 : a) : 0) }
        var result: Self = 1, base = a, e = b
        while e > 0 {
            if e & 1 == 1 { result = result &* base }
            base = base &* base
            e >>= 1
        }
        return result
    }
    init(fromDouble value: Double) { self = Self(clampingDouble: value) }
    var doubleValue: Double { Double(self) }
}

extension FixedWidthInteger {
    /// Truncates toward zero like a C cast, saturating out-of-range values and mapping NaN to 0.
    init(clampingDouble value: Double) {
        if value.isNaN { self = 0 } else if value <= Double(Self.min) { self = .min } else if value >= Double(Self.max) { self = .max } else { self = Self(value) }
    }
}

extension Int64: IntegerElement { static var zero: Int64 { 0 }; static var one: Int64 { 1 } }
extension Int32: IntegerElement { static var zero: Int32 { 0 }; static var one: Int32 { 1 } }
extension Int8: IntegerElement { static var zero: Int8 { 0 }; static var one: Int8 { 1 } }
extension UInt8: IntegerElement { static var zero: UInt8 { 0 }; static var one: UInt8 { 1 } }
extension Float { static var one: Float { 1 } }
extension Double { static var one: Double { 1 } }

/// A computation generic over the element type; `dispatch` picks the concrete type from a
/// `DataType` so every use is specialised (no per-element dynamic dispatch).
protocol ArithmeticVisitor {
    associatedtype Result
    func visit<T: ArithmeticElement>(_ type: T.Type) throws -> Result
}

protocol FloatVisitor {
    associatedtype Result
    func visit<T: FloatElement>(_ type: T.Type) throws -> Result
}

extension ArithmeticVisitor {
    func dispatch(_ type: DataType, _ what: String) throws -> Result {
        switch type {
        case .float32: try visit(Float.self)
        case .float64: try visit(Double.self)
        case .int64: try visit(Int64.self)
        case .int32: try visit(Int32.self)
        case .int8: try visit(Int8.self)
        case .uint8: try visit(UInt8.self)
        case .bool: throw ONNXError(.invalidInput, "\(what) does not support BOOL tensors")
        }
    }
}

extension FloatVisitor {
    func dispatch(_ type: DataType, _ what: String) throws -> Result {
        switch type {
        case .float32: try visit(Float.self)
        case .float64: try visit(Double.self)
        default: throw ONNXError(.invalidInput, "\(what) supports FP32 and FP64 tensors, got \(type)")
        }
    }
}

/// Byte-moving kernels (copies, gathers, transposes) only care about element width.
protocol CarrierVisitor {
    associatedtype Result
    func visit<T: FixedWidthInteger>(_ type: T.Type) throws -> Result
}

extension CarrierVisitor {
    func dispatch(_ type: DataType) throws -> Result {
        switch type.byteWidth {
        case 1: try visit(UInt8.self)
        case 4: try visit(UInt32.self)
        default: try visit(UInt64.self)
        }
    }
}
