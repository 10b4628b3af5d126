/// What load-time analysis knows about a value: element type, shape (nil dims are dynamic), and for
/// small integer vectors (shapes being computed) the elements that are known.
struct ValueType: Sendable {
    var dataType: DataType?
    var shape: [Int?]?
    /// Known elements of a 1-D int64 value; nil entries are dynamic.
    var elements: [Int?]?

    static let unknown = ValueType()

    init(dataType: DataType? = nil, shape: [Int?]? = nil, elements: [Int?]? = nil) {
        self.dataType = dataType
        self.shape = shape
        self.elements = elements
    }

    init(_ tensor: Tensor) {
        dataType = tensor.dataType
        shape = tensor.shape.map { $0 }
        if tensor.dataType == .int64, tensor.shape.count <= 1, tensor.count <= 64 {
            elements = tensor.values(as: Int64.self).map { Int($0) }
        }
    }

    var rank: Int? { shape?.count }
    /// The shape when every dimension is known.
    var staticShape: [Int]? {
        guard let shape, shape.allSatisfy({ $0 != nil }) else { return nil }
        return shape.map { $0! }
    }
}

/// Everything a kernel may look at when it is built at load time.
struct KernelBuildContext {
    let opType: String
    let domain: String
    /// Opset version of the node's domain.
    let opset: Int
    let attributes: Attributes
    /// Input slots, including empty names for omitted optional inputs.
    let inputCount: Int
    let outputCount: Int
    /// Inputs whose value is known at load (initializers, constants, folded subgraphs).
    let constants: [Tensor?]
    let inputTypes: [ValueType]
    let baseDirectory: String?

    func constant(_ index: Int) -> Tensor? { index < constants.count ? constants[index] : nil }
}

/// One operator instance, built once at load and run many times (possibly concurrently).
protocol Kernel: Sendable {
    /// Computes the outputs. `inputs` has one entry per input slot; omitted optional inputs are nil.
    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor]
    /// Output types from input types, for load-time checks and folding; unknown where it cannot tell.
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType]
}

extension Kernel {
    func inferTypes(_ inputs: [ValueType], outputCount: Int) throws -> [ValueType] {
        Array(repeating: .unknown, count: outputCount)
    }
}

typealias KernelFactory = @Sendable (KernelBuildContext) throws -> any Kernel

/// Fetches a required input or throws.
@inline(__always)
func required(_ inputs: [Tensor?], _ index: Int, _ name: String = "") throws -> Tensor {
    guard index < inputs.count, let t = inputs[index] else {
        throw ONNXError(.invalidInput, "missing required input \(index)\(name.isEmpty ? "" : " (\(name))")")
    }
    return t
}

/// Normalises a possibly negative axis for a tensor of `rank` dimensions.
func normalizeAxis(_ axis: Int, rank: Int, allowRankEqual: Bool = false) throws -> Int {
    let limit = allowRankEqual ? rank + 1 : rank
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < limit else { throw ONNXError(.invalidInput, "axis \(axis) is out of range for rank \(rank)") }
    return a
}

/// Reads an int64/int32 tensor as `[Int]`.
func intValues(_ t: Tensor, _ what: String) throws -> [Int] {
    switch t.dataType {
    case .int64: return t.values(as: Int64.self).map { Int(clamping: $0) }
    case .int32: return t.values(as: Int32.self).map { Int($0) }
    default: throw ONNXError(.invalidInput, "\(what) must be int64 or int32, got \(t.dataType)")
    }
}

func checkType(_ t: Tensor, _ allowed: [DataType], _ what: String) throws {
    guard allowed.contains(t.dataType) else {
        throw ONNXError(.invalidInput, "\(what) has type \(t.dataType), expected \(allowed.map(\.protocolName).joined(separator: "/"))")
    }
}

extension Tensor {
    var rank: Int { shape.count }
    @inline(__always) func pointer<T>(_ type: T.Type) -> UnsafeMutablePointer<T> { storage.pointer.assumingMemoryBound(to: T.self) }
    @inline(__always) var floats: UnsafeMutablePointer<Float> { storage.pointer.assumingMemoryBound(to: Float.self) }
    /// The same bytes with another shape (no copy).
    func reshaped(_ newShape: [Int]) -> Tensor { Tensor(dataType: dataType, shape: newShape, storage: storage) }
}

/// Product of dimensions for load-time analysis: nil when unknown, overflowing or absurd
/// (declared shapes in a file can hold anything).
func checkedProduct<S: Sequence>(_ dims: S) -> Int? where S.Element == Int? {
    var n = 1
    for d in dims {
        guard let d, d >= 0 else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o, p <= 1 << 40 else { return nil }
        n = p
    }
    return n
}

/// Product of dimensions, throwing on overflow or absurd sizes.
func elementCount(_ shape: [Int]) throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw ONNXError(.invalidInput, "negative dimension in shape \(shape)") }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o, p <= 1 << 36 else { throw ONNXError(.invalidInput, "shape \(shape) is too large") }
        n = p
    }
    return n
}
