/// The W3C `tracestate` list: vendor key/value pairs, most recently updated first.
public struct TraceState: Sendable, Hashable, CustomStringConvertible {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String
    }

    /// At most 32 list members (W3C Trace Context §3.3.1.1).
    public static let maxMembers = 32

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Parses a `tracestate` header value; empty and whitespace-only members are skipped.
    public init(parsing header: String) throws(TraceStateError) {
        for rawMember in header.split(separator: ",", omittingEmptySubsequences: false) {
            let member = HeaderList.trimOWS(rawMember)
            if member.isEmpty { continue }
            guard let eq = member.firstIndex(of: "=") else { throw TraceStateError(.missingEquals) }
            let key = String(member[..<eq])
            let value = String(member[member.index(after: eq)...])
            guard TraceState.isValidKey(key) else { throw TraceStateError(.invalidKey(key)) }
            guard TraceState.isValidValue(value) else { throw TraceStateError(.invalidValue(key: key)) }
            guard !entries.contains(where: { $0.key == key }) else { throw TraceStateError(.duplicateKey(key)) }
            guard entries.count < TraceState.maxMembers else { throw TraceStateError(.tooManyMembers) }
            entries.append(Entry(key: key, value: value))
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> String? {
        entries.first { $0.key == key }?.value
    }

    /// Adds or updates `key`, moving it to the front (§3.5: modified keys move left). When
    /// the list is full, the last member is removed.
    public mutating func set(_ key: String, _ value: String) throws(TraceStateError) {
        guard TraceState.isValidKey(key) else { throw TraceStateError(.invalidKey(key)) }
        guard TraceState.isValidValue(value) else { throw TraceStateError(.invalidValue(key: key)) }
        entries.removeAll { $0.key == key }
        entries.insert(Entry(key: key, value: value), at: 0)
        if entries.count > TraceState.maxMembers { entries.removeLast() }
    }

    public mutating func remove(_ key: String) {
        entries.removeAll { $0.key == key }
    }

    /// The header value: `key=value` members joined by commas.
    public var description: String {
        entries.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`,
    /// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"` (Trace Context Level 2, which
    /// accepts every Level 1 `simple-key` and `tenant@system` key).
    static func isValidKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard let first = utf8.first, utf8.count <= 256 else { return false }
        func isLowerOrDigit(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isLowerOrDigit(first) else { return false }
        for b in utf8.dropFirst() {
            guard isLowerOrDigit(b) || b == 0x5F || b == 0x2D || b == 0x2A || b == 0x2F || b == 0x40 else { return false }
        }
        return true
    }

    /// `value = 0*255(chr) nblk-chr`, `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`, `chr = %x20 / nblk-chr`.
    static func isValidValue(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard let last = utf8.last, utf8.count <= 256, last != 0x20 else { return false }
        for b in utf8 {
            guard b >= 0x20 && b <= 0x7E && b != 0x2C && b != 0x3D else { return false }
        }
        return true
    }
}

/// Why a `tracestate` value was rejected.
public struct TraceStateError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case tooManyMembers
        case missingEquals
        case invalidKey(String)
        case invalidValue(key: String)
        case duplicateKey(String)
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .tooManyMembers: "tracestate has more than \(TraceState.maxMembers) members"
        case .missingEquals: "tracestate member without '='"
        case .invalidKey(let key): "tracestate key '\(key)' is invalid"
        case .invalidValue(let key): "tracestate value for '\(key)' is invalid"
        case .duplicateKey(let key): "tracestate key '\(key)' appears twice"
        }
    }
}
