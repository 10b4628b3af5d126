import Testing
@testable import ONNXRuntime

/// Writes protobuf wire format, including the unusual encodings real files contain.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int64) { tag(field, 0); varint(UInt64(bitPattern: v)) }
    mutating func fixed32(_ field: Int, _ v: UInt32) { tag(field, 5); withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func fixed64(_ field: Int, _ v: UInt64) { tag(field, 1); withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func float(_ field: Int, _ v: Float) { fixed32(field, v.bitPattern) }
    mutating func data(_ field: Int, _ b: [UInt8]) { tag(field, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var sub = ProtoWriter()
        build(&sub)
        data(field, sub.bytes)
    }
    mutating func packedVarints(_ field: Int, _ values: [Int64]) {
        var sub = ProtoWriter()
        for v in values { sub.varint(UInt64(bitPattern: v)) }
        data(field, sub.bytes)
    }
    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var raw: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
        data(field, raw)
    }
}

enum Encoding { case raw, packed, unpacked }

/// A TensorProto to write; float and int64 data go in the encoding asked for.
struct TensorSpec {
    var name: String
    var dims: [Int64]
    var dataType: Int64 = 1
    var floats: [Float] = []
    var int64s: [Int64] = []
    var encoding: Encoding = .raw
    var dimsPacked = false
    var external: (location: String, offset: Int, length: Int)?

    func write(_ w: inout ProtoWriter) {
        if dimsPacked { w.packedVarints(1, dims) } else { for d in dims { w.int(1, d) } }
        w.int(2, dataType)
        w.string(8, name)
        if let external {
            w.message(13) { $0.string(1, "location"); $0.string(2, external.location) }
            w.message(13) { $0.string(1, "offset"); $0.string(2, "\(external.offset)") }
            w.message(13) { $0.string(1, "length"); $0.string(2, "\(external.length)") }
            w.int(14, 1)
            return
        }
        switch encoding {
        case .raw:
            var raw: [UInt8] = []
            for v in floats { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
            for v in int64s { withUnsafeBytes(of: v.littleEndian) { raw += $0 } }
            w.data(9, raw)
        case .packed:
            if !floats.isEmpty { w.packedFloats(4, floats) }
            if !int64s.isEmpty { w.packedVarints(7, int64s) }
        case .unpacked:
            for v in floats { w.float(4, v) }
            for v in int64s { w.int(7, v) }
        }
    }

    var bytes: [UInt8] {
        var w = ProtoWriter()
        write(&w)
        return w.bytes
    }
}

enum AttributeSpec {
    case int(String, Int64)
    case float(String, Float)
    case ints(String, [Int64])
    case floats(String, [Float])
    case string(String, String)
    case tensor(String, TensorSpec)

    func write(_ w: inout ProtoWriter) {
        switch self {
        case .int(let n, let v): w.string(1, n); w.int(20, 2); w.int(3, v)
        case .float(let n, let v): w.string(1, n); w.int(20, 1); w.float(2, v)
        case .ints(let n, let v): w.string(1, n); w.int(20, 7); for x in v { w.int(8, x) }
        case .floats(let n, let v): w.string(1, n); w.int(20, 6); for x in v { w.float(7, x) }
        case .string(let n, let v): w.string(1, n); w.int(20, 3); w.string(4, v)
        case .tensor(let n, let t): w.string(1, n); w.int(20, 4); w.message(5) { t.write(&$0) }
        }
    }
}

struct NodeSpec {
    var op: String
    var inputs: [String]
    var outputs: [String]
    var name = ""
    var domain = ""
    var attributes: [AttributeSpec] = []
}

/// Builds small ONNX models in memory for tests.
struct ModelBuilder {
    var opset: Int64 = 17
    var extraOpsets: [(String, Int64)] = []
    var nodes: [NodeSpec] = []
    var initializers: [TensorSpec] = []
    /// (name, elem type, dims; nil = dynamic)
    var inputs: [(String, Int64, [Int64?])] = []
    var outputs: [(String, Int64, [Int64?])] = []
    /// Unknown fields sprinkled in every message, which readers must skip.
    var addUnknownFields = false

    func build() -> [UInt8] {
        var m = ProtoWriter()
        m.int(1, 8)
        if addUnknownFields { m.int(99, -5); m.fixed64(98, 7); m.string(97, "ignored"); m.fixed32(96, 1) }
        m.message(8) { $0.string(1, ""); $0.int(2, opset) }
        for (domain, version) in extraOpsets { m.message(8) { $0.string(1, domain); $0.int(2, version) } }
        m.string(2, "tests")
        m.message(7) { g in
            for n in nodes {
                g.message(1) { w in
                    for i in n.inputs { w.string(1, i) }
                    for o in n.outputs { w.string(2, o) }
                    w.string(3, n.name)
                    w.string(4, n.op)
                    if !n.domain.isEmpty { w.string(7, n.domain) }
                    if addUnknownFields { w.int(50, 1); w.string(51, "x") }
                    for a in n.attributes { w.message(5) { a.write(&$0) } }
                }
            }
            g.string(2, "graph")
            for t in initializers { g.message(5) { t.write(&$0) } }
            for (name, type, dims) in inputs { Self.valueInfo(&g, 11, name, type, dims) }
            for (name, type, dims) in outputs { Self.valueInfo(&g, 12, name, type, dims) }
        }
        return m.bytes
    }

    static func valueInfo(_ g: inout ProtoWriter, _ field: Int, _ name: String, _ type: Int64, _ dims: [Int64?]) {
        g.message(field) { v in
            v.string(1, name)
            v.message(2) { t in
                t.message(1) { tt in
                    tt.int(1, type)
                    tt.message(2) { s in for d in dims { s.message(1) { dim in if let d { dim.int(1, d) } else { dim.string(2, "N") } } } }
                }
            }
        }
    }

    /// y = op(x) on FP32 with the given shapes.
    static func unary(_ op: String, shape: [Int64?], attributes: [AttributeSpec] = []) -> ModelBuilder {
        var b = ModelBuilder()
        b.nodes = [NodeSpec(op: op, inputs: ["x"], outputs: ["y"], name: "n0", attributes: attributes)]
        b.inputs = [("x", 1, shape)]
        b.outputs = [("y", 1, shape)]
        return b
    }
}

/// Expects `body` to throw an ONNXError whose message contains every fragment.
func expectONNXError(_ code: ONNXError.Code? = nil, containing fragments: [String], _ body: () throws -> Void,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch let error as ONNXError {
        if let code { #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation) }
        for f in fragments {
            #expect(error.message.contains(f), "'\(error.message)' should mention '\(f)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
    }
}
