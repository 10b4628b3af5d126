#if canImport(Glibc)
import Glibc
#endif

/// Element types, numbered as ONNX `TensorProto.DataType`.
public enum DataType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case int32 = 6
    case int64 = 7
    case bool = 9
    case float64 = 11

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32, .int32: 4
        case .uint8, .int8, .bool: 1
        case .int64, .float64: 8
        }
    }

    /// The Open Inference Protocol datatype name (`FP32`, `INT64`, …).
    public var protocolName: String {
        switch self {
        case .float32: "FP32"
        case .float64: "FP64"
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .int32: "INT32"
        case .int64: "INT64"
        case .bool: "BOOL"
        }
    }

    public init?(protocolName: String) {
        guard let match = DataType.allCases.first(where: { $0.protocolName == protocolName }) else { return nil }
        self = match
    }

    public var description: String { protocolName }
}

/// Swift types that can be tensor elements.
public protocol TensorElement: Sendable {
    static var dataType: DataType { get }
}
extension Float: TensorElement { public static var dataType: DataType { .float32 } }
extension Double: TensorElement { public static var dataType: DataType { .float64 } }
extension Int64: TensorElement { public static var dataType: DataType { .int64 } }
extension Int32: TensorElement { public static var dataType: DataType { .int32 } }
extension Int8: TensorElement { public static var dataType: DataType { .int8 } }
extension UInt8: TensorElement { public static var dataType: DataType { .uint8 } }
extension Bool: TensorElement { public static var dataType: DataType { .bool } }

/// A 64-byte aligned, zero-initialised byte buffer owned by one or more tensors.
public final class TensorStorage: @unchecked Sendable {
    // Safe: a storage is written only by the code that created it (the executor filling an output,
    // a decoder filling an input) before the tensor is handed to another thread; afterwards it is read-only.
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int

    public init(byteCount: Int) {
        self.byteCount = byteCount
        let size = max(64, (byteCount + 63) & ~63)
        var raw: UnsafeMutableRawPointer?
        precondition(posix_memalign(&raw, 64, size) == 0 && raw != nil, "out of memory allocating \(size) bytes")
        pointer = raw!
        memset(pointer, 0, size)
    }

    deinit { free(pointer) }
}

/// A dense, row-major tensor.
public struct Tensor: Sendable {
    public let dataType: DataType
    public var shape: [Int]
    public let storage: TensorStorage

    /// Number of elements (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dataType.byteWidth }

    /// A zero-filled tensor.
    public init(dataType: DataType, shape: [Int]) {
        self.dataType = dataType
        self.shape = shape
        self.storage = TensorStorage(byteCount: shape.reduce(1, *) * dataType.byteWidth)
    }

    /// A tensor viewing existing storage (for example, the same bytes with a new shape).
    public init(dataType: DataType, shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) * dataType.byteWidth <= storage.byteCount, "storage too small for shape \(shape)")
        self.dataType = dataType
        self.shape = shape
        self.storage = storage
    }

    /// A tensor holding a copy of `values`.
    public init<T: TensorElement>(shape: [Int], values: [T]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        self.init(dataType: T.dataType, shape: shape)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// The elements as an array of `T`, which must match `dataType`.
    public func values<T: TensorElement>(as type: T.Type = T.self) -> [T] {
        precondition(T.dataType == dataType, "tensor is \(dataType), not \(T.dataType)")
        let n = count
        return Array(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: n))
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: byteCount))
    }

    /// Writes into the storage; only for the owner, before the tensor is shared.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage.pointer, count: byteCount))
    }
}
