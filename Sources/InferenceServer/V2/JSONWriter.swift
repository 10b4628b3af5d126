import Telemetry

/// Writes compact JSON into a byte array, inserting commas itself.
///
/// ```swift
/// var json = JSONWriter()
/// json.beginObject()
/// json.key("name"); json.string("digits")
/// json.key("versions"); json.beginArray(); json.string("1"); json.endArray()
/// json.endObject()
/// send(json.bytes)
/// ```
///
/// The writer does not check nesting: pair every `begin…` with its `end…` and put a `key` before each
/// value inside an object. Non-finite floating-point values are written as `null`, since JSON has no
/// NaN or infinity.
public struct JSONWriter: Sendable {
    /// The JSON text written so far.
    public private(set) var bytes: [UInt8]
    /// A value has been written in the current container, so the next one needs a comma.
    private var needsComma = false

    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: Structure

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes an object key; the next call writes its value.
    public mutating func key(_ key: String) {
        separate()
        writeQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    // MARK: Scalars

    public mutating func string(_ value: String) {
        separate()
        writeQuoted(value)
        needsComma = true
    }

    public mutating func int(_ value: Int) {
        int64(Int64(value))
    }

    public mutating func int64(_ value: Int64) {
        separate()
        writeInteger(value)
        needsComma = true
    }

    /// Writes the shortest decimal that reads back as the same `Double`; `null` if not finite.
    public mutating func double(_ value: Double) {
        separate()
        writeDouble(value)
        needsComma = true
    }

    /// Writes the shortest decimal that reads back as the same `Float`; `null` if not finite.
    public mutating func float(_ value: Float) {
        separate()
        writeFloat(value)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        writeBool(value)
        needsComma = true
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// Writes any `JSONValue`; object keys are sorted so the output is deterministic.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): int64(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            for name in members.keys.sorted() {
                key(name)
                self.value(members[name]!)
            }
            endObject()
        }
    }

    /// Appends bytes that are already valid JSON for one value (for example, a cached fragment).
    public mutating func raw(_ json: some Sequence<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    // MARK: Helpers

    @inline(__always) private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// Appends the raw bytes of an encoded body part (used for the binary tensor section).
    mutating func appendBytes(_ buffer: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: buffer)
    }

    mutating func reserveAdditional(_ count: Int) {
        bytes.reserveCapacity(bytes.count + count)
    }

    // Unseparated writers, for tight loops that place their own commas.

    /// Records that the current container holds a value written with the unseparated writers below.
    mutating func markValueWritten() {
        needsComma = true
    }

    mutating func writeComma() {
        bytes.append(UInt8(ascii: ","))
    }

    mutating func writeBool(_ value: Bool) {
        if value { bytes.append(contentsOf: "true".utf8) } else { bytes.append(contentsOf: "false".utf8) }
    }

    mutating func writeFloat(_ value: Float) {
        // `description` is the shortest round-trip form (`1.0`, `0.1`, `1e-05`, `3.4028235e+38`), all valid JSON numbers.
        if value.isFinite { bytes.append(contentsOf: value.description.utf8) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func writeDouble(_ value: Double) {
        if value.isFinite { bytes.append(contentsOf: value.description.utf8) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func writeInteger(_ value: Int64) {
        var magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            while magnitude > 0 {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i..<20]))
        }
    }

    mutating func writeQuoted(_ string: String) {
        bytes.appendJSONString(string)
    }
}
