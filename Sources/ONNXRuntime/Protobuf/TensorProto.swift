#if canImport(Glibc)
import Glibc
#endif

/// A decoded ONNX `TensorProto`: weights in a model, or a test vector in a `.pb` file.
public struct TensorProto: Sendable {
    public var name = ""
    public var dims: [Int64] = []
    /// The ONNX `TensorProto.DataType` code (may be one this runtime cannot hold).
    public var dataTypeCode: Int32 = 0

    var rawData: [UInt8]?
    var floatData: [Float] = []
    var int32Data: [Int64] = []
    var int64Data: [Int64] = []
    var doubleData: [Double] = []
    var uint64Data: [Int64] = []
    var stringCount = 0
    var externalData: [String: String] = [:]
    var isExternal = false

    /// Decodes a serialized `TensorProto`.
    public init(bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { buffer in
            var reader = ProtoReader(buffer, context: "TensorProto")
            return try TensorProto(reader: &reader)
        }
    }

    init(reader: inout ProtoReader) throws {
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: try reader.readRepeatedVarint(wire, into: &dims)
            case 2: dataTypeCode = try reader.readInt32(wire)
            case 4: try reader.readRepeatedFloat(wire, into: &floatData)
            case 5: try reader.readRepeatedVarint(wire, into: &int32Data)
            case 6: _ = try reader.readLengthDelimited(); stringCount += 1
            case 7: try reader.readRepeatedVarint(wire, into: &int64Data)
            case 8: name = try reader.readString()
            case 9:
                guard wire == .lengthDelimited else { throw reader.malformed("raw_data has wire type \(wire.rawValue)") }
                rawData = try reader.readBytes()
            case 10: try reader.readRepeatedDouble(wire, into: &doubleData)
            case 11: try reader.readRepeatedVarint(wire, into: &uint64Data)
            case 13:
                try ModelProto.expectMessage(wire, &reader, "external_data")
                var sub = try reader.readMessage()
                var key = "", value = ""
                while let (f, w) = try sub.readTag() {
                    switch f {
                    case 1: key = try sub.readString()
                    case 2: value = try sub.readString()
                    default: try sub.skip(w)
                    }
                }
                externalData[key] = value
            case 14: isExternal = try reader.readInt64(wire) == 1
            default: try reader.skip(wire)
            }
        }
    }

    /// The element type, or an error naming the tensor when this runtime cannot hold it.
    func dataType(context: String) throws -> DataType {
        guard let type = DataType(rawValue: dataTypeCode) else {
            let names: [Int32: String] = [0: "UNDEFINED", 4: "UINT16", 5: "INT16", 8: "STRING", 10: "FLOAT16", 12: "UINT32",
                                          13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
            let what = names[dataTypeCode] ?? "code \(dataTypeCode)"
            throw ONNXError(.unsupported, "\(context): tensor '\(name)' has element type \(what), which is not supported")
        }
        return type
    }

    /// The shape as `Int`s, checking for negative dimensions and element counts that overflow.
    func shape(context: String) throws -> (shape: [Int], count: Int) {
        var count = 1
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard d >= 0, d <= Int64(Int32.max) else { throw ONNXError(.malformed, "\(context): tensor '\(name)' has dimension \(d)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= 1 << 40 else { throw ONNXError(.malformed, "\(context): tensor '\(name)' has too many elements (dims \(dims))") }
            count = product
            shape.append(Int(d))
        }
        return (shape, count)
    }

    /// Converts to a `Tensor`. External data is resolved against `baseDirectory` (the model's folder).
    public func tensor(baseDirectory: String? = nil) throws -> Tensor {
        let context = "tensor '\(name)'"
        let type = try dataType(context: context)
        let (shape, count) = try shape(context: context)
        let byteCount = count * type.byteWidth

        if isExternal {
            let bytes = try readExternal(byteCount: byteCount, baseDirectory: baseDirectory)
            return try Self.fromRaw(bytes, type: type, shape: shape)
        }
        if let rawData {
            guard rawData.count == byteCount else {
                throw ONNXError(.malformed, "\(context): raw_data has \(rawData.count) bytes, shape \(shape) of \(type) needs \(byteCount)")
            }
            return try Self.fromRaw(rawData, type: type, shape: shape)
        }
        // The values must be there before the tensor is allocated: a shape alone (up to 2^40
        // elements) must not reserve memory its data does not back.
        let (values, field): (Int, String) = switch type {
        case .float32: (floatData.count, "float_data")
        case .float64: (doubleData.count, "double_data")
        case .int64: (int64Data.count, "int64_data")
        case .int32, .int8, .uint8, .bool: (int32Data.count, "int32_data")
        }
        guard values == count else { throw ONNXError(.malformed, "\(context): \(field) has \(values) values, shape \(shape) needs \(count)") }
        let tensor = Tensor(dataType: type, shape: shape)
        let p = tensor.storage.pointer
        switch type {
        case .float32:
            floatData.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
        case .float64:
            doubleData.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
        case .int64:
            int64Data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
        case .int32:
            let q = p.assumingMemoryBound(to: Int32.self)
            for i in 0..<count { q[i] = Int32(truncatingIfNeeded: int32Data[i]) }
        case .int8, .uint8:
            let q = p.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { q[i] = UInt8(truncatingIfNeeded: int32Data[i]) }
        case .bool:
            let q = p.assumingMemoryBound(to: Bool.self)
            for i in 0..<count { q[i] = int32Data[i] != 0 }
        }
        return tensor
    }

    private static func fromRaw(_ bytes: [UInt8], type: DataType, shape: [Int]) throws -> Tensor {
        let tensor = Tensor(dataType: type, shape: shape)
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { tensor.storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        if type == .bool {
            // Normalise to 0/1 so the bytes are valid Swift Bools.
            let q = tensor.storage.pointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<bytes.count where q[i] > 1 { q[i] = 1 }
        }
        return tensor
    }

    private func readExternal(byteCount: Int, baseDirectory: String?) throws -> [UInt8] {
        let context = "tensor '\(name)'"
        guard let location = externalData["location"], !location.isEmpty else {
            throw ONNXError(.malformed, "\(context): external data without a location")
        }
        guard let baseDirectory else {
            throw ONNXError(.invalidGraph, "\(context): external data '\(location)' needs the model's directory")
        }
        let offset = Int(externalData["offset"] ?? "0") ?? -1
        let length = externalData["length"].map { Int($0) ?? -1 } ?? byteCount
        guard offset >= 0, length >= 0 else { throw ONNXError(.malformed, "\(context): bad external data offset/length") }
        guard length == byteCount else {
            throw ONNXError(.malformed, "\(context): external data length \(length) does not match \(byteCount) bytes for its shape")
        }
        let path = try ExternalDataPath.resolve(location, in: baseDirectory, context: context)
        return try ExternalDataPath.read(path: path, offset: offset, length: length, context: context)
    }
}

enum ExternalDataPath {
    /// Joins `location` to the model directory, refusing absolute paths and anything that resolves outside it.
    static func resolve(_ location: String, in baseDirectory: String, context: String) throws -> String {
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !location.hasPrefix("/"), !parts.contains(".."), !location.contains("\\"), !location.contains("\0") else {
            throw ONNXError(.invalidGraph, "\(context): external data location '\(location)' escapes the model directory")
        }
        let joined = baseDirectory + "/" + location
        guard let base = realPath(baseDirectory), let full = realPath(joined) else {
            throw ONNXError(.io, "\(context): external data file '\(joined)' not found")
        }
        guard full.hasPrefix(base == "/" ? "/" : base + "/") else {
            throw ONNXError(.invalidGraph, "\(context): external data location '\(location)' escapes the model directory")
        }
        return full
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func read(path: String, offset: Int, length: Int, context: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ONNXError(.io, "\(context): cannot open external data file '\(path)'") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ONNXError(.io, "\(context): cannot stat '\(path)'") }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= Int(info.st_size) else {
            throw ONNXError(.malformed, "\(context): external data range \(offset)+\(length) is past the end of '\(path)' (\(info.st_size) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < length {
                let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset + done))
                guard n > 0 else { throw ONNXError(.io, "\(context): read error in '\(path)'") }
                done += n
            }
        }
        return bytes
    }

    /// Reads a whole file.
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ONNXError(.io, "cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw ONNXError(.io, "'\(path)' is not a regular file") }
        return try read(path: path, offset: 0, length: Int(info.st_size), context: "model '\(path)'")
    }
}

extension Tensor {
    /// Decodes a serialized ONNX `TensorProto` (for example an ONNX backend-test `input_0.pb`).
    public init(protobufBytes: [UInt8]) throws {
        self = try TensorProto(bytes: protobufBytes).tensor()
    }
}
