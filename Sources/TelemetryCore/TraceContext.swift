/// W3C trace flags (`trace-flags` in `traceparent`).
public struct TraceFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The caller may have recorded this trace.
    public static let sampled = TraceFlags(rawValue: 0x01)
    /// The trace id's low 56 bits are random (W3C Trace Context Level 2).
    public static let random = TraceFlags(rawValue: 0x02)
}

/// The propagated identity of a span: what `traceparent` and `tracestate` carry.
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    public var traceID: TraceID
    public var spanID: SpanID
    public var flags: TraceFlags
    public var traceState: TraceState
    /// True when the context came from another process (extracted from headers).
    public var isRemote: Bool

    public init(traceID: TraceID, spanID: SpanID, flags: TraceFlags = [], traceState: TraceState = TraceState(),
                isRemote: Bool = false) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    public var isSampled: Bool { flags.contains(.sampled) }

    /// Parses a `traceparent` header strictly (W3C Trace Context §3.2) and, when it is valid,
    /// a `tracestate` header leniently: an invalid `tracestate` is dropped, never fatal
    /// (§3.3: its failure MUST NOT affect `traceparent`). The result is marked remote.
    public init(traceparent: String, tracestate: String? = nil) throws(TraceParentError) {
        let parsed = try TraceParent.parse(traceparent)
        self.init(traceID: parsed.traceID, spanID: parsed.spanID, flags: parsed.flags,
                  traceState: tracestate.flatMap { try? TraceState(parsing: $0) } ?? TraceState(),
                  isRemote: true)
    }

    /// The `traceparent` header value for this context (always version 00).
    public var traceparent: String {
        String(unsafeUninitializedCapacity: TraceContext.traceparentLength) { buffer in
            var out = ByteCursor(buffer.baseAddress!)
            writeTraceparent(to: &out)
            return TraceContext.traceparentLength
        }
    }

    /// Bytes in a version-00 `traceparent` value.
    package static let traceparentLength = 55

    /// Writes the `traceparent` value (`traceparentLength` bytes) where a response is encoded,
    /// with no `String` in between.
    package func writeTraceparent(to out: inout ByteCursor) {
        out.write("00-")
        out.writeHex(traceID)
        out.write(UInt8(ascii: "-"))
        out.writeHex(spanID.value)
        out.write(UInt8(ascii: "-"))
        let flagBits = Int(flags.rawValue)
        out.write(HexCoding.digits[flagBits >> 4])
        out.write(HexCoding.digits[flagBits & 0xF])
    }

    /// The `tracestate` header value, or nil when there is nothing to send.
    public var tracestate: String? { traceState.isEmpty ? nil : traceState.description }

    public var description: String { traceparent }
}

/// Why a `traceparent` value was rejected.
public struct TraceParentError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// Version 00 must be exactly 55 characters; higher versions at least 55.
        case invalidLength(Int)
        /// The version is not two lowercase hex digits followed by `-`.
        case invalidVersion
        /// Version `ff` is forbidden.
        case forbiddenVersion
        /// A `-` is missing where the format requires one.
        case missingDelimiter(position: Int)
        /// The trace id is not 32 lowercase hex digits.
        case invalidTraceID
        /// The trace id is all zeros.
        case zeroTraceID
        /// The parent id is not 16 lowercase hex digits.
        case invalidSpanID
        /// The parent id is all zeros.
        case zeroSpanID
        /// The flags are not two lowercase hex digits.
        case invalidTraceFlags
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .invalidLength(let n): "traceparent has \(n) characters (version 00 needs exactly 55)"
        case .invalidVersion: "traceparent version is not two lowercase hex digits"
        case .forbiddenVersion: "traceparent version ff is forbidden"
        case .missingDelimiter(let p): "traceparent has no '-' at offset \(p)"
        case .invalidTraceID: "traceparent trace-id is not 32 lowercase hex digits"
        case .zeroTraceID: "traceparent trace-id is all zeros"
        case .invalidSpanID: "traceparent parent-id is not 16 lowercase hex digits"
        case .zeroSpanID: "traceparent parent-id is all zeros"
        case .invalidTraceFlags: "traceparent trace-flags are not two lowercase hex digits"
        }
    }
}

enum TraceParent {
    struct Parsed {
        var traceID: TraceID
        var spanID: SpanID
        var flags: TraceFlags
    }

    static func parse(_ header: String) throws(TraceParentError) -> Parsed {
        var utf8 = Array(header.utf8)
        // HTTP strips optional whitespace around field values; tolerate it here too.
        while let last = utf8.last, last == 0x20 || last == 0x09 { utf8.removeLast() }
        var start = 0
        while start < utf8.count, utf8[start] == 0x20 || utf8[start] == 0x09 { start += 1 }
        if start > 0 { utf8.removeFirst(start) }
        return try utf8.withUnsafeMutableBufferPointer { (bytes) throws(TraceParentError) -> Parsed in
            try parse(bytes)
        }
    }

    private static func parse(_ bytes: UnsafeMutableBufferPointer<UInt8>) throws(TraceParentError) -> Parsed {
        let n = bytes.count
        guard n >= 3, let v1 = HexCoding.lowercaseNibble(bytes[0]), let v2 = HexCoding.lowercaseNibble(bytes[1]),
              bytes[2] == UInt8(ascii: "-")
        else { throw TraceParentError(.invalidVersion) }
        let version = v1 << 4 | v2
        if version == 0xFF { throw TraceParentError(.forbiddenVersion) }
        if version == 0 {
            guard n == 55 else { throw TraceParentError(.invalidLength(n)) }
        } else {
            // §3.2.4: parse a higher version as 00 if the first 55 characters fit and the next
            // character, if any, is a '-'.
            guard n >= 55 else { throw TraceParentError(.invalidLength(n)) }
            if n > 55, bytes[55] != UInt8(ascii: "-") { throw TraceParentError(.missingDelimiter(position: 55)) }
        }
        guard bytes[35] == UInt8(ascii: "-") else { throw TraceParentError(.missingDelimiter(position: 35)) }
        guard bytes[52] == UInt8(ascii: "-") else { throw TraceParentError(.missingDelimiter(position: 52)) }
        guard let high = HexCoding.parseLowercase(bytes[3..<19]), let low = HexCoding.parseLowercase(bytes[19..<35])
        else { throw TraceParentError(.invalidTraceID) }
        let traceID = TraceID(high: high, low: low)
        guard traceID.isValid else { throw TraceParentError(.zeroTraceID) }
        guard let span = HexCoding.parseLowercase(bytes[36..<52]) else { throw TraceParentError(.invalidSpanID) }
        guard span != 0 else { throw TraceParentError(.zeroSpanID) }
        guard let flags = HexCoding.parseLowercase(bytes[53..<55]) else { throw TraceParentError(.invalidTraceFlags) }
        // Only the bits this implementation understands are kept; for unknown versions only
        // the sampled bit is defined.
        let mask: UInt64 = version == 0 ? 0x03 : 0x01
        return Parsed(traceID: traceID, spanID: SpanID(span), flags: TraceFlags(rawValue: UInt8(flags & mask)))
    }
}
