// Decoders for the subset of onnx.proto this runtime reads. Field numbers follow onnx/onnx.proto
// (IR version 10); fields not listed are skipped.

/// Graphs nest through attributes (If/Loop bodies); bound the depth so hostile input cannot exhaust the stack.
private let maxNestingDepth = 16

struct OperatorSetId: Sendable {
    var domain = ""
    var version: Int64 = 0

    init(reader: inout ProtoReader) throws {
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: domain = try reader.readString()
            case 2: version = try reader.readInt64(wire)
            default: try reader.skip(wire)
            }
        }
    }
}

struct ModelProto: Sendable {
    var irVersion: Int64 = 0
    var opsetImports: [OperatorSetId] = []
    var producerName = ""
    var graph: GraphProto?

    init(bytes: UnsafeRawBufferPointer, context: String) throws {
        var reader = ProtoReader(bytes, context: context)
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: irVersion = try reader.readInt64(wire)
            case 2: producerName = try reader.readString()
            case 7:
                try Self.expectMessage(wire, &reader, "graph")
                var sub = try reader.readMessage()
                graph = try GraphProto(reader: &sub, depth: 0)
            case 8:
                try Self.expectMessage(wire, &reader, "opset_import")
                var sub = try reader.readMessage()
                opsetImports.append(try OperatorSetId(reader: &sub))
            default: try reader.skip(wire)
            }
        }
    }

    static func expectMessage(_ wire: ProtoReader.WireType, _ reader: inout ProtoReader, _ name: String) throws {
        guard wire == .lengthDelimited else { throw reader.malformed("field '\(name)' has wire type \(wire.rawValue), expected a message") }
    }
}

struct GraphProto: Sendable {
    var name = ""
    var nodes: [NodeProto] = []
    var initializers: [TensorProto] = []
    var inputs: [ValueInfoProto] = []
    var outputs: [ValueInfoProto] = []
    var valueInfo: [ValueInfoProto] = []
    var hasSparseInitializers = false

    init(reader: inout ProtoReader, depth: Int) throws {
        guard depth < maxNestingDepth else { throw reader.malformed("graphs nested more than \(maxNestingDepth) deep") }
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1:
                try ModelProto.expectMessage(wire, &reader, "node")
                var sub = try reader.readMessage()
                nodes.append(try NodeProto(reader: &sub, depth: depth))
            case 2: name = try reader.readString()
            case 5:
                try ModelProto.expectMessage(wire, &reader, "initializer")
                var sub = try reader.readMessage()
                initializers.append(try TensorProto(reader: &sub))
            case 11, 12, 13:
                try ModelProto.expectMessage(wire, &reader, "value info")
                var sub = try reader.readMessage()
                let info = try ValueInfoProto(reader: &sub)
                if field == 11 { inputs.append(info) } else if field == 12 { outputs.append(info) } else { valueInfo.append(info) }
            case 15:
                hasSparseInitializers = true
                try reader.skip(wire)
            default: try reader.skip(wire)
            }
        }
    }
}

struct NodeProto: Sendable {
    var name = ""
    var opType = ""
    var domain = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [AttributeProto] = []

    init(reader: inout ProtoReader, depth: Int) throws {
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: inputs.append(try reader.readString())
            case 2: outputs.append(try reader.readString())
            case 3: name = try reader.readString()
            case 4: opType = try reader.readString()
            case 7: domain = try reader.readString()
            case 5:
                try ModelProto.expectMessage(wire, &reader, "attribute")
                var sub = try reader.readMessage()
                attributes.append(try AttributeProto(reader: &sub, depth: depth))
            default: try reader.skip(wire)
            }
        }
    }
}

struct AttributeProto: Sendable {
    enum Kind: Int64, Sendable {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5
        case floats = 6, ints = 7, strings = 8, tensors = 9, graphs = 10
        case sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
    }

    var name = ""
    var kind: Kind = .undefined
    var f: Float = 0
    var i: Int64 = 0
    var s: [UInt8] = []
    var t: TensorProto?
    var g: GraphProto?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [[UInt8]] = []
    var tensors: [TensorProto] = []
    var refAttrName = ""
    private var sawField: Set<Int> = []

    init(reader: inout ProtoReader, depth: Int) throws {
        var explicitType: Int64?
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: name = try reader.readString()
            case 2: f = try reader.readFloat(wire)
            case 3: i = try reader.readInt64(wire)
            case 4: s = try reader.readBytes()
            case 5:
                try ModelProto.expectMessage(wire, &reader, "attribute t")
                var sub = try reader.readMessage()
                t = try TensorProto(reader: &sub)
            case 6:
                try ModelProto.expectMessage(wire, &reader, "attribute g")
                var sub = try reader.readMessage()
                g = try GraphProto(reader: &sub, depth: depth + 1)
            case 7: try reader.readRepeatedFloat(wire, into: &floats)
            case 8: try reader.readRepeatedVarint(wire, into: &ints)
            case 9: strings.append(try reader.readBytes())
            case 10:
                try ModelProto.expectMessage(wire, &reader, "attribute tensors")
                var sub = try reader.readMessage()
                tensors.append(try TensorProto(reader: &sub))
            case 20: explicitType = try reader.readInt64(wire)
            case 21: refAttrName = try reader.readString()
            default:
                try reader.skip(wire)
                continue
            }
            sawField.insert(field)
        }
        if let explicitType {
            kind = Kind(rawValue: explicitType) ?? .undefined
        } else {
            // IR < 0.0.2 files omit `type`; infer it from the field that is present.
            let order: [(Int, Kind)] = [(2, .float), (3, .int), (4, .string), (5, .tensor), (6, .graph),
                                        (7, .floats), (8, .ints), (9, .strings), (10, .tensors)]
            kind = order.first { sawField.contains($0.0) }?.1 ?? .undefined
        }
    }
}

struct ValueInfoProto: Sendable {
    enum Kind: Sendable { case tensor, sequence, map, other }
    var name = ""
    var kind: Kind = .other
    var elementType: Int32 = 0
    /// nil when the shape is not given at all; per dimension: a value, or nil for a symbolic/unknown one.
    var shape: [Int64?]?

    init(reader: inout ProtoReader) throws {
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1: name = try reader.readString()
            case 2:
                try ModelProto.expectMessage(wire, &reader, "type")
                var sub = try reader.readMessage()
                try readType(&sub)
            default: try reader.skip(wire)
            }
        }
    }

    private mutating func readType(_ reader: inout ProtoReader) throws {
        while let (field, wire) = try reader.readTag() {
            switch field {
            case 1:
                try ModelProto.expectMessage(wire, &reader, "tensor_type")
                kind = .tensor
                var sub = try reader.readMessage()
                while let (f, w) = try sub.readTag() {
                    switch f {
                    case 1: elementType = try sub.readInt32(w)
                    case 2:
                        try ModelProto.expectMessage(w, &sub, "shape")
                        var shapeReader = try sub.readMessage()
                        shape = try Self.readShape(&shapeReader)
                    default: try sub.skip(w)
                    }
                }
            case 4: kind = .sequence; try reader.skip(wire)
            case 5: kind = .map; try reader.skip(wire)
            default: try reader.skip(wire)
            }
        }
    }

    private static func readShape(_ reader: inout ProtoReader) throws -> [Int64?] {
        var dims: [Int64?] = []
        while let (field, wire) = try reader.readTag() {
            guard field == 1 else { try reader.skip(wire); continue }
            try ModelProto.expectMessage(wire, &reader, "dim")
            var sub = try reader.readMessage()
            var value: Int64?
            while let (f, w) = try sub.readTag() {
                if f == 1 { value = try sub.readInt64(w) } else { try sub.skip(w) }
            }
            // Negative or absurd declared sizes are treated as unknown.
            dims.append(value.flatMap { $0 >= 0 && $0 <= 1 << 40 ? $0 : nil })
        }
        return dims
    }
}
