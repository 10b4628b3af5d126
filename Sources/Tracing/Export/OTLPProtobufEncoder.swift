import TelemetryCore

/// Encodes spans as a binary protobuf OTLP `ExportTraceServiceRequest` (opentelemetry-proto
/// `collector/trace/v1`), the body of OTLP/HTTP `http/protobuf` (`Content-Type:
/// application/x-protobuf`). Fields go out in field-number order and proto3 defaults (zero,
/// empty) are left out, as the reference serializers do, so equal spans give equal bytes.
///
/// Spans are written one at a time (`appendSpan`), each straight into the buffer: a nested
/// message gets a one-byte length slot, and a message of 128 bytes or more (most spans) moves its
/// bytes up by the length's extra bytes once it is complete. Room is checked only where lengths
/// vary (each string, each attribute, link and event); a span that does not fit the room
/// reserved for it is written again into room sized from its lengths. The request's frame around
/// the spans (`envelope`) is written once their total length is known.
public enum OTLPProtobufEncoder {
    public static func encode(_ spans: [SpanData], resource: Resource, scope: InstrumentationScope) -> [UInt8] {
        var body = ByteBuffer(capacity: 256 * spans.count)
        for i in spans.indices { appendSpan(spans[i], to: &body) }
        return envelope(resource: resource, scope: scope, spanBytes: body.count) + body.array()
    }

    /// Appends `span` as a `ScopeSpans.spans` field. Spans appended one after another are the
    /// end of the request that `envelope` begins: a batch can be encoded span by span, as each
    /// ends, and framed when it is sent.
    package static func appendSpan(_ span: borrowing SpanData, to out: inout ByteBuffer) {
        appendSpan(span, to: &out, room: optimisticRoom)
    }

    /// Room reserved for a span before its lengths are known: enough for all but the largest
    /// (a batch span with about a hundred links), which are then sized and written again.
    static let optimisticRoom = 8192

    /// `appendSpan` trying `room` bytes first (at least `ProtobufCursor.slack`).
    @discardableResult
    static func appendSpan(_ span: borrowing SpanData, to out: inout ByteBuffer, room: Int) -> SpanMarks {
        // Most spans take a few hundred bytes: no pass over the span to size it first.
        if let marks = append(span, to: &out, room: room) { return marks }
        let marks = append(span, to: &out, room: Bound.frame + Bound.span(span) + ProtobufCursor.slack)
        guard let marks else { preconditionFailure("a span outgrew the room sized from its lengths") }
        return marks
    }

    /// Writes `span` as a `ScopeSpans.spans` field into `room` bytes reserved in `out`; nil, with
    /// nothing appended, when it did not fit.
    private static func append(_ span: borrowing SpanData, to out: inout ByteBuffer, room: Int) -> SpanMarks? {
        var cursor = ProtobufCursor(reservingIn: &out, room: room)
        let message = cursor.beginMessage(2)  // ScopeSpans.spans
        var marks = writeSpan(span, to: &cursor)
        let end = cursor.offset
        cursor.endMessage(message)
        marks.shift(by: cursor.offset - end)  // a long span's body moved up for its length
        return cursor.commit(to: &out) ? marks : nil
    }

    /// Appends the spans of `group`'s members in `members`, as `appendSpan` would one by one. A
    /// member's span whose fields have the sizes of one already written (no trace state of its
    /// own, a parent, a start) is that one's bytes with its ids, start and flags written over.
    package static func appendSpans(_ group: borrowing SpanGroup, members: Range<Int>, to out: inout ByteBuffer) {
        var pattern: (offset: Int, count: Int, marks: SpanMarks)?
        for i in members {
            let sameSizes = group.members[i].context.traceState.isEmpty && group.members[i].parentSpanID != nil
                && group.members[i].startTimeUnixNano != 0
            let offset = out.count
            if sameSizes, let pattern {
                out.appendCopy(from: pattern.offset, count: pattern.count)
                pattern.marks.write(group.members[i], into: out.mutableBytes(from: offset))
                continue
            }
            let marks = appendSpan(group.span(i), to: &out, room: optimisticRoom)
            if sameSizes { pattern = (offset, out.count - offset, marks) }
        }
    }

    /// What comes before `spanBytes` bytes of spans written by `appendSpan`: the
    /// `ExportTraceServiceRequest` with one `ResourceSpans` (`resource`) holding one `ScopeSpans`
    /// (`scope`), up to its spans. Fields go out in field-number order, lengths at their shortest.
    package static func envelope(resource: Resource, scope: InstrumentationScope, spanBytes: Int) -> [UInt8] {
        var resourceMessage = ByteBuffer(capacity: 64)
        resourceMessage.appendProtobuf(maxCount: Bound.attributes(resource.attributes)) { $0.attributes(1, resource.attributes) }
        var scopeMessage = ByteBuffer(capacity: 64)
        scopeMessage.appendProtobuf(maxCount: 2 * Bound.frame + Bound.string(scope.name) + Bound.string(scope.version ?? "")) { cursor in
            cursor.string(1, scope.name)
            if let version = scope.version { cursor.string(2, version) }
        }
        let scopeSpans = ProtobufCursor.fieldLength(scopeMessage.count) + spanBytes
        let resourceSpans = ProtobufCursor.fieldLength(resourceMessage.count) + ProtobufCursor.fieldLength(scopeSpans)
        var out = ByteBuffer(capacity: 64 + resourceMessage.count + scopeMessage.count)
        out.appendProtobuf(maxCount: 2 * Bound.frame) { cursor in
            cursor.lengthPrefix(1, resourceSpans)  // ExportTraceServiceRequest.resource_spans
            cursor.lengthPrefix(1, resourceMessage.count)  // ResourceSpans.resource
        }
        out.append(resourceMessage.bytes)
        out.appendProtobuf(maxCount: 2 * Bound.frame) { cursor in
            cursor.lengthPrefix(2, scopeSpans)  // ResourceSpans.scope_spans
            cursor.lengthPrefix(1, scopeMessage.count)  // ScopeSpans.scope
        }
        out.append(scopeMessage.bytes)
        return out.array()
    }

    /// `opentelemetry.proto.trace.v1.Span`, read in place: borrowed, so nothing in it is retained.
    /// Returns where its ids, start and flags went.
    @discardableResult
    static func writeSpan(_ span: borrowing SpanData, to out: inout ProtobufCursor) -> SpanMarks {
        var marks = SpanMarks()
        marks.traceID = out.traceID(1, span.context.traceID)
        marks.spanID = out.spanID(2, span.context.spanID)
        if !span.context.traceState.isEmpty { out.string(3, span.context.traceState.description) }
        if let parent = span.parentSpanID { marks.parentSpanID = out.spanID(4, parent) }
        out.string(5, span.name)
        out.varint(6, UInt64(span.kind.rawValue))
        marks.start = out.fixed64(7, span.startTimeUnixNano)
        out.fixed64(8, span.endTimeUnixNano)
        out.attributes(9, span.attributes)
        out.varint(10, UInt64(span.droppedAttributesCount))
        for i in span.events.indices {
            guard out.room(for: 0) else { break }
            let event = out.beginMessage(11)
            out.fixed64(1, span.events[i].timeUnixNano)
            out.string(2, span.events[i].name)
            out.attributes(3, span.events[i].attributes)
            out.endMessage(event)
        }
        out.varint(12, UInt64(span.droppedEventsCount))
        for i in span.links.indices {
            guard out.room(for: 0) else { break }
            let link = out.beginMessage(13)
            out.traceID(1, span.links[i].context.traceID)
            out.spanID(2, span.links[i].context.spanID)
            if !span.links[i].context.traceState.isEmpty { out.string(3, span.links[i].context.traceState.description) }
            out.attributes(4, span.links[i].attributes)
            out.fixed32(6, OTLPSpanFlags.value(span.links[i].context.flags, isRemote: span.links[i].context.isRemote))
            out.endMessage(link)
        }
        out.varint(14, UInt64(span.droppedLinksCount))
        switch span.status {
        case .unset: break
        case .ok:
            let status = out.beginMessage(15)
            out.varint(3, 1)
            out.endMessage(status)
        case .error(let message):
            let status = out.beginMessage(15)
            if let message { out.string(2, message) }
            out.varint(3, 2)
            out.endMessage(status)
        }
        marks.flags = out.fixed32(16, OTLPSpanFlags.value(span.context.flags, isRemote: span.parentIsRemote))
        return marks
    }

    /// Where `appendSpan` wrote a span's ids, start and flags (offsets from the start of what it
    /// appended; -1 for a field left out), so that a span differing only in those can be written
    /// as a copy of its bytes with them written over.
    struct SpanMarks {
        var traceID = -1, spanID = -1, parentSpanID = -1, start = -1, flags = -1

        mutating func shift(by n: Int) {
            guard n != 0 else { return }
            if traceID >= 0 { traceID += n }
            if spanID >= 0 { spanID += n }
            if parentSpanID >= 0 { parentSpanID += n }
            if start >= 0 { start += n }
            if flags >= 0 { flags += n }
        }

        /// Writes `member`'s ids, start and flags over a copy of the span these marks are of
        /// (which had a parent and a start, as `member` has).
        func write(_ member: SpanGroup.Member, into bytes: UnsafeMutableRawBufferPointer) {
            bytes.storeBytes(of: member.context.traceID.high.bigEndian, toByteOffset: traceID, as: UInt64.self)
            bytes.storeBytes(of: member.context.traceID.low.bigEndian, toByteOffset: traceID + 8, as: UInt64.self)
            bytes.storeBytes(of: member.context.spanID.value.bigEndian, toByteOffset: spanID, as: UInt64.self)
            bytes.storeBytes(of: member.parentSpanID!.value.bigEndian, toByteOffset: parentSpanID, as: UInt64.self)
            bytes.storeBytes(of: member.startTimeUnixNano.littleEndian, toByteOffset: start, as: UInt64.self)
            bytes.storeBytes(of: OTLPSpanFlags.value(member.context.flags, isRemote: member.parentIsRemote).littleEndian,
                             toByteOffset: flags, as: UInt32.self)
        }
    }

    /// The most bytes each part can take: every tag and length at its longest.
    enum Bound {
        /// A tag (≤ 2 bytes here) and a length (≤ 5 bytes).
        static let frame = 7

        @inline(__always)
        static func string(_ s: String) -> Int { frame + s.utf8.count }

        @inline(__always)
        static func traceState(_ state: TraceState) -> Int { state.isEmpty ? 0 : string(state.description) }

        @inline(__always)
        static func value(_ value: SpanAttribute) -> Int {
            switch value {
            case .string(let s): frame + string(s)
            case .int, .double, .bool: frame + 11
            case .stringArray(let values): 2 * frame + values.reduce(0) { $0 + frame + string($1) }
            }
        }

        @inline(__always)
        static func attributes(_ attributes: SpanAttributes) -> Int {
            attributes.entries.withUnsafeBufferPointer { entries in
                var n = 0
                for i in entries.indices { n += frame + string(entries[i].key) + value(entries[i].value) }
                return n
            }
        }

        static func span(_ span: borrowing SpanData) -> Int {
            // Frame; ids 18 + 10 + 10; kind, dropped counts 4 × 11; times 18; flags 7; status.
            var n = frame + 38 + 44 + 18 + 7 + 2 * frame + 11 + string(span.name) + traceState(span.context.traceState)
                + attributes(span.attributes)
            if case .error(let message?) = span.status { n += string(message) }
            for i in span.events.indices { n += frame + 9 + string(span.events[i].name) + attributes(span.events[i].attributes) }
            for i in span.links.indices {
                n += frame + 28 + 7 + traceState(span.links[i].context.traceState) + attributes(span.links[i].attributes)
            }
            return n
        }
    }
}

/// `Span.flags` and `Link.flags` (opentelemetry-proto trace.proto), in both encodings.
enum OTLPSpanFlags {
    /// The W3C trace flags in bits 0–7, bit 8 set (whether the parent or linked span is
    /// remote is known) and bit 9 saying it is.
    static func value(_ flags: TraceFlags, isRemote: Bool) -> UInt32 {
        UInt32(flags.rawValue) | 0x100 | (isRemote ? 0x200 : 0)
    }
}

extension ByteBuffer {
    /// Appends what `body` writes in protobuf wire format, at most `maxCount` bytes.
    mutating func appendProtobuf(maxCount: Int, _ body: (inout ProtobufCursor) -> Void) {
        var cursor = ProtobufCursor(reservingIn: &self, room: maxCount + ProtobufCursor.slack)
        body(&cursor)
        precondition(cursor.commit(to: &self), "protobuf writes outgrew their bound")
    }
}

/// Writes protobuf wire format into reserved memory. Fixed-size fields are written without
/// checks; where lengths vary (`room(for:)`: before each string, attribute, link and event) the
/// cursor checks that it is still before `limit`. `slack` bytes of room lie beyond it, for the
/// fixed-size fields between two checks and after a check that failed. Once a check fails,
/// `overflowed` is set, no string is written, loops stop, and the caller discards what was written.
struct ProtobufCursor {
    private var cursor: ByteCursor
    private let start: UnsafeMutablePointer<UInt8>
    private let limit: UnsafeMutablePointer<UInt8>
    private let room: Int
    private(set) var overflowed = false

    /// More than the fixed-size fields between two checks (at most about 60 bytes: a key's value,
    /// a link's ids) plus those written after a failed one (the rest of each enclosing message,
    /// about 100 bytes, and a few bytes more per length that outgrows its slot).
    static let slack = 256

    /// A cursor over `room` bytes (at least `slack`) reserved at the end of `buffer`; what it
    /// writes is appended by `commit(to:)`.
    init(reservingIn buffer: inout ByteBuffer, room: Int) {
        precondition(room >= ProtobufCursor.slack, "room for protobuf writes below the cursor's slack")
        start = buffer.reserveTail(room)
        cursor = ByteCursor(start)
        limit = start + (room - ProtobufCursor.slack)
        self.room = room
    }

    /// Appends what was written to `buffer` (the one the room was reserved in, unchanged since);
    /// false, with nothing appended, if a check failed.
    func commit(to buffer: inout ByteBuffer) -> Bool {
        guard !overflowed else { return false }
        buffer.commitTail(cursor.position - start, room: room)
        return true
    }

    var position: UnsafeMutablePointer<UInt8> { cursor.position }
    /// Bytes written so far.
    var offset: Int { cursor.position - start }

    /// Whether `count` more bytes fit before `limit`; false from the first check that fails on.
    @inline(__always)
    mutating func room(for count: Int) -> Bool {
        if !overflowed && count <= limit - cursor.position { return true }
        overflowed = true
        return false
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            cursor.write(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        cursor.write(UInt8(v))
    }

    private mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
        UnsafeMutableRawPointer(cursor.position).storeBytes(of: value.littleEndian, as: T.self)
        cursor.skip(MemoryLayout<T>.size)
    }

    /// A varint field, left out when zero (the proto3 default).
    mutating func varint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, 0)
        rawVarint(value)
    }

    /// A fixed64 field, left out when zero; returns where its value went (`offset`), or -1.
    @discardableResult
    mutating func fixed64(_ field: Int, _ value: UInt64) -> Int {
        guard value != 0 else { return -1 }
        tag(field, 1)
        let at = offset
        littleEndian(value)
        return at
    }

    /// A fixed32 field, left out when zero; returns where its value went (`offset`), or -1.
    @discardableResult
    mutating func fixed32(_ field: Int, _ value: UInt32) -> Int {
        guard value != 0 else { return -1 }
        tag(field, 5)
        let at = offset
        littleEndian(value)
        return at
    }

    /// A string field, left out when empty.
    @inline(__always)
    mutating func string(_ field: Int, _ value: borrowing String) {
        guard !value.isEmpty else { return }
        tag(field, 2)
        bytes(value)
    }

    /// A string's length and UTF-8 bytes, read where a native string keeps them (`withCString`
    /// copies only a small string's inline bytes, and writes an embedded NUL like any byte).
    @inline(__always)
    private mutating func bytes(_ value: borrowing String) {
        let count = value.utf8.count
        value.withCString { text in
            guard room(for: 10 + count) else { return }  // the length's varint, then the bytes
            rawVarint(UInt64(count))
            text.withMemoryRebound(to: UInt8.self, capacity: count) { cursor.write($0, count: count) }
        }
    }

    /// A trace id field; returns where its 16 bytes went (`offset`).
    @discardableResult
    mutating func traceID(_ field: Int, _ id: TraceID) -> Int {
        tag(field, 2)
        cursor.write(16)
        let at = offset
        UnsafeMutableRawPointer(cursor.position).storeBytes(of: id.high.bigEndian, as: UInt64.self)
        UnsafeMutableRawPointer(cursor.position).storeBytes(of: id.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        cursor.skip(16)
        return at
    }

    /// A span id field; returns where its 8 bytes went (`offset`).
    @discardableResult
    mutating func spanID(_ field: Int, _ id: SpanID) -> Int {
        tag(field, 2)
        cursor.write(8)
        let at = offset
        UnsafeMutableRawPointer(cursor.position).storeBytes(of: id.value.bigEndian, as: UInt64.self)
        cursor.skip(8)
        return at
    }

    /// A length-delimited field's tag and length, its `length` bytes to follow.
    mutating func lengthPrefix(_ field: Int, _ length: Int) {
        tag(field, 2)
        rawVarint(UInt64(length))
    }

    /// Bytes a length-delimited field with a one-byte tag takes, `length` bytes of content included.
    static func fieldLength(_ length: Int) -> Int {
        var n = 2
        var rest = length >> 7
        while rest > 0 {
            n += 1
            rest >>= 7
        }
        return n + length
    }

    /// Starts a nested message: its tag, then a one-byte length slot that `endMessage` fills.
    mutating func beginMessage(_ field: Int) -> UnsafeMutablePointer<UInt8> {
        tag(field, 2)
        let slot = cursor.position
        cursor.skip(1)
        return slot
    }

    /// Ends the message begun at `slot`: writes its length there, first moving a body of 128
    /// bytes or more up to make room for the longer length.
    @inline(__always)
    mutating func endMessage(_ slot: UnsafeMutablePointer<UInt8>) {
        let length = cursor.position - slot - 1
        guard length >= 0x80 else {  // most messages (attributes, links): the slot takes it
            slot.pointee = UInt8(truncatingIfNeeded: length)
            return
        }
        endLongMessage(slot, length: length)
    }

    @inline(never)
    private mutating func endLongMessage(_ slot: UnsafeMutablePointer<UInt8>, length: Int) {
        var extra = 0
        var rest = length >> 7
        while rest > 0 {
            extra += 1
            rest >>= 7
        }
        (slot + 1 + extra).update(from: slot + 1, count: length)  // overlapping: memmove
        cursor = ByteCursor(slot)
        rawVarint(UInt64(length))
        cursor.skip(length)
    }

    /// Every attribute as a `KeyValue` in field `field`, each read in place through a pointer (an
    /// entry read by subscript was copied: its key retained and released).
    mutating func attributes(_ field: Int, _ attributes: borrowing SpanAttributes) {
        attributes.entries.withUnsafeBufferPointer { entries in
            guard let base = entries.baseAddress else { return }
            for i in entries.indices {
                guard room(for: 0) else { break }
                keyValue(field, base + i)
            }
        }
    }

    @inline(__always)
    private mutating func keyValue(_ field: Int, _ entry: UnsafePointer<SpanAttributes.Entry>) {
        let keyValue = beginMessage(field)
        string(1, entry.pointee.key)
        let value = beginMessage(2)
        anyValue(entry.pointee.value)
        endMessage(value)
        endMessage(keyValue)
    }

    /// The body of an `AnyValue`. Zero, false and empty values are written too: the oneof
    /// says which kind the value is.
    @inline(__always)
    mutating func anyValue(_ value: borrowing SpanAttribute) {
        switch value {
        case .string(let s):
            tag(1, 2)
            bytes(s)
        case .bool(let b):
            tag(2, 0)
            cursor.write(b ? 1 : 0)
        case .int(let i):
            tag(3, 0)
            rawVarint(UInt64(bitPattern: i))
        case .double(let d):
            tag(4, 1)
            littleEndian(d.bitPattern)
        case .stringArray(let values):
            let array = beginMessage(5)  // ArrayValue
            for s in values {
                guard room(for: 0) else { break }
                let value = beginMessage(1)
                anyValue(.string(s))
                endMessage(value)
            }
            endMessage(array)
        }
    }
}
