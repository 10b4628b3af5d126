import InferenceCore
import ONNXRuntime

extension JSONScanner {
    /// The outcome of decoding a `data` array.
    struct TensorDataResult {
        /// Scalars found (all nesting levels).
        var count = 0
        /// The first element that does not fit the datatype, as a message naming the input; later elements
        /// are only syntax-checked.
        var problem: String?
    }

    private struct Sink {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        let type: DataType
        let label: String
        var result = TensorDataResult()
    }

    /// Decodes the (flat or nested) array at the cursor into `base`, in row-major order, writing at most
    /// `capacity` elements of `type` and counting the rest.
    /// - Parameter depth: containers already open around the array.
    /// - Throws: `.invalidRequest` if the JSON is malformed (including bare `NaN`/`Infinity`).
    mutating func decodeTensorData(_ type: DataType, into base: UnsafeMutableRawPointer, capacity: Int,
                                   label: String, depth: Int) throws(InferenceError) -> TensorDataResult {
        var sink = Sink(base: base, capacity: capacity, type: type, label: label)
        try decodeArray(&sink, depth: depth)
        return sink.result
    }

    private mutating func decodeArray(_ sink: inout Sink, depth: Int) throws(InferenceError) {
        try checkDepth(depth + 1)
        position += 1 // '['
        var first = true
        if sink.type == .float32 { try decodeFloat32Run(&sink, first: &first) }
        while try nextElement(first: &first) {
            if current == UInt8(ascii: "[") {
                try decodeArray(&sink, depth: depth + 1)
            } else if sink.result.problem != nil {
                try skipValue(depth: depth + 1)
                sink.result.count += 1
            } else {
                try decodeScalar(&sink, depth: depth + 1)
                sink.result.count += 1
            }
        }
    }

    /// The common case of FP32 data, a flat run of numbers, with no per-element dispatch: decodes numbers
    /// until the first element it does not take (a nested array, a non-number, a value outside FP32, a full
    /// sink), leaving the cursor and `first` for the general loop to go on from there.
    private mutating func decodeFloat32Run(_ sink: inout Sink, first: inout Bool) throws(InferenceError) {
        while sink.result.count < sink.capacity {
            decodeShortFloat32s(&sink, first: &first)
            guard sink.result.count < sink.capacity else { return }
            // One element the fast lane left: a longer number, the end of the array or of the text.
            let resume = position
            skipWhitespace()
            if !first {
                guard current == UInt8(ascii: ",") else { position = resume; return }
                position += 1
                skipWhitespace()
            }
            let byte = current
            guard byte &- UInt8(ascii: "0") < 10
                    || (byte == UInt8(ascii: "-") && position + 1 < end && buffer[position + 1] &- UInt8(ascii: "0") < 10)
            else { position = resume; return }
            let number = try scanNumber()
            guard let value = number.floatValue(in: buffer), value.isFinite else { position = resume; return }
            sink.base.storeBytes(of: value, toByteOffset: sink.result.count &* 4, as: Float.self)
            sink.result.count += 1
            first = false
        }
    }

    /// The fast lane of `decodeFloat32Run`: separators and short numbers (`shortFloat32(at:)`) read
    /// through a local pointer, until the first thing it does not take (anything else, or fewer than
    /// `shortNumberRoom` bytes left), where the cursor is left for the general loop.
    private mutating func decodeShortFloat32s(_ sink: inout Sink, first: inout Bool) {
        guard let base = buffer.baseAddress, end - position > Self.shortNumberRoom else { return }
        let stop = base + end
        let last = stop - Self.shortNumberRoom
        var p = base + position
        var count = sink.result.count
        var isFirst = first
        @inline(__always) func isSpace(_ c: UInt8) -> Bool {
            c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\t")
        }
        while count < sink.capacity {
            var q = p
            while q < stop && isSpace(q.pointee) { q += 1 }
            if !isFirst {
                guard q < stop, q.pointee == UInt8(ascii: ",") else { break }
                q += 1
                while q < stop && isSpace(q.pointee) { q += 1 }
            }
            guard q <= last, let (value, next) = Self.shortFloat32(at: q) else { break }
            sink.base.storeBytes(of: value, toByteOffset: count &* 4, as: Float.self)
            count &+= 1
            isFirst = false
            p = next
        }
        position = p - base
        sink.result.count = count
        first = isFirst
    }

    private mutating func decodeScalar(_ sink: inout Sink, depth: Int) throws(InferenceError) {
        let index = sink.result.count
        let byte = current
        let store = index < sink.capacity
        if sink.type == .bool {
            switch byte {
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                if store { sink.base.storeBytes(of: 1, toByteOffset: index, as: UInt8.self) }
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                if store { sink.base.storeBytes(of: 0, toByteOffset: index, as: UInt8.self) }
            default:
                sink.result.problem = "\(sink.label) (BOOL): data element \(index) is \(Self.describeValueStart(byte)), expected true or false"
                try skipValue(depth: depth)
            }
            return
        }

        guard byte == UInt8(ascii: "-") || byte &- UInt8(ascii: "0") < 10 else {
            if byte == UInt8(ascii: "N") || byte == UInt8(ascii: "I") {
                throw nonFiniteError(sink, index: index)
            }
            sink.result.problem = "\(sink.label) (\(sink.type.protocolName)): data element \(index) is \(Self.describeValueStart(byte)), expected a number"
            try skipValue(depth: depth)
            return
        }
        if byte == UInt8(ascii: "-") && position + 1 < end && buffer[position + 1] == UInt8(ascii: "I") {
            throw nonFiniteError(sink, index: index)
        }
        let number = try scanNumber()
        switch sink.type {
        case .float32:
            guard let value = number.floatValue(in: buffer), value.isFinite else {
                sink.result.problem = outOfRange(sink, index: index, number: number, range: "of FP32")
                return
            }
            if store { sink.base.storeBytes(of: value, toByteOffset: index &* 4, as: Float.self) }
        case .float64:
            guard let value = number.doubleValue(in: buffer), value.isFinite else {
                sink.result.problem = outOfRange(sink, index: index, number: number, range: "of FP64")
                return
            }
            if store { sink.base.storeBytes(of: value, toByteOffset: index &* 8, as: Double.self) }
        case .int64:
            guard let value = integer(number, &sink, index: index, in: Int64.min...Int64.max) else { return }
            if store { sink.base.storeBytes(of: value, toByteOffset: index &* 8, as: Int64.self) }
        case .int32:
            guard let value = integer(number, &sink, index: index, in: Int64(Int32.min)...Int64(Int32.max)) else { return }
            if store { sink.base.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: index &* 4, as: Int32.self) }
        case .int8:
            guard let value = integer(number, &sink, index: index, in: Int64(Int8.min)...Int64(Int8.max)) else { return }
            if store { sink.base.storeBytes(of: Int8(truncatingIfNeeded: value), toByteOffset: index, as: Int8.self) }
        case .uint8:
            guard let value = integer(number, &sink, index: index, in: 0...Int64(UInt8.max)) else { return }
            if store { sink.base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: index, as: UInt8.self) }
        case .bool:
            break // handled above
        }
    }

    /// The number as an integer within `range`, or nil after recording why not.
    private func integer(_ number: JSONNumber, _ sink: inout Sink, index: Int, in range: ClosedRange<Int64>) -> Int64? {
        switch number.integerValue() {
        case .value(let value) where range.contains(value):
            return value
        case .notIntegral:
            sink.result.problem = "\(sink.label) (\(sink.type.protocolName)): data element \(index) (\(literal(number))) is not an integer"
        case .value, .outOfRange:
            sink.result.problem = outOfRange(sink, index: index, number: number, range: "\(range.lowerBound)...\(range.upperBound)")
        }
        return nil
    }

    private func outOfRange(_ sink: Sink, index: Int, number: JSONNumber, range: String) -> String {
        "\(sink.label) (\(sink.type.protocolName)): data element \(index) (\(literal(number))) is outside the range \(range)"
    }

    private func nonFiniteError(_ sink: Sink, index: Int) -> InferenceError {
        InferenceError(.invalidRequest, "\(sink.label) (\(sink.type.protocolName)): data element \(index) at byte \(position) is not a JSON number; NaN and Infinity cannot be sent as JSON, send the input as binary data instead")
    }

    /// The literal text of `number`, shortened for messages.
    func literal(_ number: JSONNumber) -> String {
        let stop = min(number.end, number.start + 40)
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[number.start..<stop]), as: UTF8.self)
        return stop < number.end ? text + "…" : text
    }
}
