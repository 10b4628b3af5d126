/// A node's attributes with typed accessors; errors say which attribute is wrong.
struct Attributes: Sendable {
    let values: [String: AttributeProto]

    init(_ list: [AttributeProto]) { values = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last }) }

    func has(_ name: String) -> Bool { values[name] != nil }

    private func get(_ name: String, _ kinds: AttributeProto.Kind...) throws -> AttributeProto? {
        guard let a = values[name] else { return nil }
        guard kinds.contains(a.kind) else {
            throw ONNXError(.invalidGraph, "attribute '\(name)' has type \(a.kind), expected \(kinds.map { "\($0)" }.joined(separator: " or "))")
        }
        return a
    }

    /// Integer attributes are clamped to ±2^40 so that sums of a few of them cannot overflow; real
    /// values are far smaller, and the INT64_MAX sentinels some exporters write keep their meaning.
    static func clamp(_ v: Int64) -> Int { Int(max(min(v, 1 << 40), -(1 << 40))) }

    func int(_ name: String) throws -> Int? {
        guard let a = try get(name, .int) else { return nil }
        return Self.clamp(a.i)
    }

    func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = try get(name, .ints) else { return nil }
        return a.ints.map(Self.clamp)
    }

    func float(_ name: String) throws -> Float? { try get(name, .float)?.f }
    func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    func floats(_ name: String) throws -> [Float]? { try get(name, .floats)?.floats }

    func string(_ name: String) throws -> String? {
        guard let a = try get(name, .string) else { return nil }
        return String(decoding: a.s, as: UTF8.self)
    }

    func string(_ name: String, default value: String) throws -> String { try string(name) ?? value }

    func strings(_ name: String) throws -> [String]? {
        try get(name, .strings)?.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    func tensor(_ name: String, baseDirectory: String?) throws -> Tensor? {
        guard let t = try get(name, .tensor)?.t else { return nil }
        return try t.tensor(baseDirectory: baseDirectory)
    }
}
