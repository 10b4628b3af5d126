/// A cursor over protobuf wire-format bytes that throws instead of trapping on malformed input.
///
/// Wire format reference: https://protobuf.dev/programming-guides/encoding/
struct ProtoReader {
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int
    /// What is being decoded, for error messages.
    let context: String

    init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
        self.context = context
    }

    private init(bytes: UnsafeRawBufferPointer, position: Int, end: Int, context: String) {
        self.bytes = bytes
        self.position = position
        self.end = end
        self.context = context
    }

    var isAtEnd: Bool { position >= end }

    func malformed(_ what: String) -> ONNXError {
        ONNXError(.malformed, "\(context): \(what) at byte \(position)")
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw malformed("truncated varint") }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { throw malformed("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw malformed("varint longer than 10 bytes") }
        }
    }

    /// Reads a field key; returns nil at the end of the message.
    mutating func readTag() throws -> (field: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try readVarint()
        guard let wire = WireType(rawValue: UInt8(key & 7)) else { throw malformed("invalid wire type \(key & 7)") }
        let field = key >> 3
        guard field > 0, field <= 536_870_911 else { throw malformed("invalid field number \(field)") }
        return (Int(field), wire)
    }

    mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw malformed("truncated fixed32") }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: v)
    }

    mutating func readFixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw malformed("truncated fixed64") }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: v)
    }

    /// The byte range of a length-delimited field's payload; advances past it.
    mutating func readLengthDelimited() throws -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - position) else { throw malformed("length \(length) runs past the end of the message") }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// A reader over a nested message's payload.
    mutating func readMessage(context: String? = nil) throws -> ProtoReader {
        let range = try readLengthDelimited()
        return ProtoReader(bytes: bytes, position: range.lowerBound, end: range.upperBound, context: context ?? self.context)
    }

    mutating func readBytes() throws -> [UInt8] {
        let range = try readLengthDelimited()
        return Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    mutating func readString() throws -> String {
        let range = try readLengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    mutating func readInt64(_ wire: WireType) throws -> Int64 {
        guard wire == .varint else { throw malformed("expected a varint, got wire type \(wire.rawValue)") }
        return Int64(bitPattern: try readVarint())
    }

    mutating func readInt32(_ wire: WireType) throws -> Int32 {
        // int32 fields are sign-extended to 64 bits on the wire; keep the low 32 bits.
        Int32(truncatingIfNeeded: try readInt64(wire))
    }

    mutating func readFloat(_ wire: WireType) throws -> Float {
        guard wire == .fixed32 else { throw malformed("expected a fixed32 float, got wire type \(wire.rawValue)") }
        return Float(bitPattern: try readFixed32())
    }

    mutating func readDouble(_ wire: WireType) throws -> Double {
        guard wire == .fixed64 else { throw malformed("expected a fixed64 double, got wire type \(wire.rawValue)") }
        return Double(bitPattern: try readFixed64())
    }

    /// Appends a repeated varint field, packed (one length-delimited run) or unpacked (one element).
    mutating func readRepeatedVarint(_ wire: WireType, into values: inout [Int64]) throws {
        if wire == .varint {
            values.append(Int64(bitPattern: try readVarint()))
        } else if wire == .lengthDelimited {
            var packed = try readMessage()
            values.reserveCapacity(values.count + min(packed.end - packed.position, 1 << 20))
            while !packed.isAtEnd { values.append(Int64(bitPattern: try packed.readVarint())) }
        } else {
            throw malformed("expected varints, got wire type \(wire.rawValue)")
        }
    }

    mutating func readRepeatedFloat(_ wire: WireType, into values: inout [Float]) throws {
        if wire == .fixed32 {
            values.append(Float(bitPattern: try readFixed32()))
        } else if wire == .lengthDelimited {
            let range = try readLengthDelimited()
            guard range.count % 4 == 0 else { throw malformed("packed floats of \(range.count) bytes") }
            let n = range.count / 4
            values.reserveCapacity(values.count + n)
            for i in 0..<n {
                let bits = bytes.loadUnaligned(fromByteOffset: range.lowerBound + 4 * i, as: UInt32.self)
                values.append(Float(bitPattern: UInt32(littleEndian: bits)))
            }
        } else {
            throw malformed("expected floats, got wire type \(wire.rawValue)")
        }
    }

    mutating func readRepeatedDouble(_ wire: WireType, into values: inout [Double]) throws {
        if wire == .fixed64 {
            values.append(Double(bitPattern: try readFixed64()))
        } else if wire == .lengthDelimited {
            let range = try readLengthDelimited()
            guard range.count % 8 == 0 else { throw malformed("packed doubles of \(range.count) bytes") }
            let n = range.count / 8
            values.reserveCapacity(values.count + n)
            for i in 0..<n {
                let bits = bytes.loadUnaligned(fromByteOffset: range.lowerBound + 8 * i, as: UInt64.self)
                values.append(Double(bitPattern: UInt64(littleEndian: bits)))
            }
        } else {
            throw malformed("expected doubles, got wire type \(wire.rawValue)")
        }
    }

    /// Skips a field this reader does not use.
    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw malformed("groups are not used by ONNX")
        }
    }
}
